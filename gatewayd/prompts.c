/* Prompt snapshot (prompts.h): built by gw_prompts_reload (admin thread or
 * start-up) into its own arena, published through a gw_snap, read by
 * gw_prompts_apply on any MHD thread. Prompts are kept sorted by name (the
 * database's BINARY order, which is strcmp's), each with its versions in
 * ascending order, so a lookup is two binary searches. A version's texts
 * are kept as they are stored and rendered per request into new cJSON
 * strings owned by r->json; its params are one parsed cJSON tree (freed
 * with the arena) that requests only read and copy from. */
#include "prompts.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "db.h"
#include "pipeline.h"
#include "request.h"
#include "snapshot.h"
#include "template.h"

struct pmsg {
    const char *role, *content;
};

struct pver {
    int version;
    const char *system; /* NULL: none */
    struct pmsg *msgs;
    size_t n_msgs;
    const char *model; /* NULL: none */
    int force_model;
    const cJSON *params; /* NULL: none */
    const char **vars;
    size_t n_vars;
};

struct pentry {
    const char *name;
    int active;
    struct pver *versions; /* ascending */
    size_t n;
};

struct pset {
    struct gw_arena *arena;
    struct pentry *items; /* sorted by name */
    size_t n;
    long n_versions;
};

static void pset_free(void *p);
static struct gw_snap prompts_snap = GW_SNAP_INITIALIZER(pset_free);
/* Reloads are serialised, as keys.c's are: snapshots publish in the order
 * of their reads. */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

static void pset_free(void *p)
{
    struct pset *ps = p;
    if (ps)
        gw_arena_destroy(ps->arena);
}

static void delete_json(void *p)
{
    cJSON_Delete(p);
}

int gw_prompt_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GW_PROMPT_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.')))
            return 0;
    }
    return 1;
}

/* A stored template (canonical JSON, prompt_tpl.h) into v. -1 if it is not
 * one (the row is skipped and logged by the caller). */
static int load_version(struct gw_arena *a, const char *json, struct pver *v)
{
    cJSON *t = cJSON_Parse(json);
    if (!cJSON_IsObject(t)) {
        cJSON_Delete(t);
        return -1;
    }
    const cJSON *x;
    if (cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(t, "system")))
        v->system = gw_arena_strdup(a, x->valuestring);
    if (cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(t, "model")))
        v->model = gw_arena_strdup(a, x->valuestring);
    v->force_model = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "force_model")) && v->model;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(t, "messages");
    int nm = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
    v->msgs = gw_arena_calloc(a, (size_t)(nm ? nm : 1) * sizeof *v->msgs);
    for (const cJSON *m = nm ? msgs->child : NULL; m; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(role) && cJSON_IsString(content))
            v->msgs[v->n_msgs++] = (struct pmsg){gw_arena_strdup(a, role->valuestring),
                                                 gw_arena_strdup(a, content->valuestring)};
    }
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(t, "variables");
    int nv = cJSON_IsArray(vars) ? cJSON_GetArraySize(vars) : 0;
    v->vars = gw_arena_calloc(a, (size_t)(nv ? nv : 1) * sizeof *v->vars);
    for (const cJSON *n = nv ? vars->child : NULL; n; n = n->next)
        if (cJSON_IsString(n))
            v->vars[v->n_vars++] = gw_arena_strdup(a, n->valuestring);
    cJSON *params = cJSON_DetachItemFromObjectCaseSensitive(t, "params");
    cJSON_Delete(t);
    if (cJSON_IsObject(params) && params->child) {
        if (gw_arena_on_destroy(a, delete_json, params) == 0)
            v->params = params;
    } else {
        cJSON_Delete(params);
    }
    return 0;
}

static int reload_locked(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = gw_db_open(db_path, GW_DB_READONLY, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    sqlite3_stmt *st = NULL;
    struct pset *ps = NULL;
    struct gw_arena *a = gw_arena_new(16384);
    if (!a)
        goto out;
    ps = gw_arena_calloc(a, sizeof *ps);
    ps->arena = a;
    long n_prompts = 0, n_versions = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT count(*) FROM prompts WHERE deleted_at IS NULL), "
                           "(SELECT count(*) FROM prompt_versions v JOIN prompts p "
                           "ON p.name = v.name WHERE p.deleted_at IS NULL)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto dberr;
    n_prompts = sqlite3_column_int64(st, 0);
    n_versions = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    ps->items = gw_arena_calloc(a, (size_t)(n_prompts ? n_prompts : 1) * sizeof *ps->items);
    struct pver *all = gw_arena_calloc(a, (size_t)(n_versions ? n_versions : 1) * sizeof *all);
    if (sqlite3_prepare_v2(db,
                           "SELECT p.name, p.active_version, v.version, v.template "
                           "FROM prompts p JOIN prompt_versions v ON v.name = p.name "
                           "WHERE p.deleted_at IS NULL ORDER BY p.name, v.version",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    int step;
    long used = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *tpl = (const char *)sqlite3_column_text(st, 3);
        if (!name || !tpl || used >= n_versions)
            continue;
        struct pentry *e = ps->n ? &ps->items[ps->n - 1] : NULL;
        if (!e || strcmp(e->name, name) != 0) {
            if (ps->n >= (size_t)n_prompts)
                continue;
            e = &ps->items[ps->n++];
            e->name = gw_arena_strdup(a, name);
            e->active = sqlite3_column_int(st, 1);
            e->versions = &all[used];
        }
        struct pver *v = &all[used];
        v->version = sqlite3_column_int(st, 2);
        if (load_version(a, tpl, v) != 0) {
            snprintf(err, errlen, "prompt %s@%d: its stored template is not JSON", name,
                     v->version);
            goto out;
        }
        used++;
        e->n++;
    }
    if (step != SQLITE_DONE)
        goto dberr;
    ps->n_versions = used;
    gw_snap_publish(&prompts_snap, ps);
    ps = NULL;
    rc = 0;
    goto out;
dberr:
    snprintf(err, errlen, "loading prompts: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (ps)
        pset_free(ps);
    else if (rc != 0)
        gw_arena_destroy(a);
    return rc;
}

int gw_prompts_reload(const char *db_path, char *err, size_t errlen)
{
    pthread_mutex_lock(&reload_mu);
    int rc = reload_locked(db_path, err, errlen);
    pthread_mutex_unlock(&reload_mu);
    return rc;
}

void gw_prompts_shutdown(void)
{
    gw_snap_clear(&prompts_snap);
}

void gw_prompts_counts(long *prompts, long *versions)
{
    *prompts = *versions = 0;
    unsigned tok;
    struct pset *ps = gw_snap_enter(&prompts_snap, &tok);
    if (ps) {
        *prompts = (long)ps->n;
        *versions = ps->n_versions;
    }
    gw_snap_exit(&prompts_snap, tok);
}

int gw_prompt_named(struct gw_request *r, const cJSON *body)
{
    const char *h = gw_request_header(r, "x-gw-prompt");
    return (h && *h) || cJSON_GetObjectItemCaseSensitive(body, "prompt") != NULL;
}

/* ---- applying a template ------------------------------------------------ */

static const struct pentry *find_prompt(const struct pset *ps, const char *name)
{
    size_t lo = 0, hi = ps ? ps->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ps->items[mid].name, name);
        if (c == 0)
            return &ps->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct pver *find_version(const struct pentry *e, int version)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->versions[mid].version == version)
            return &e->versions[mid];
        if (e->versions[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int refuse(struct gw_prompt_error *e, int status, const char *code, const char *param,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(struct gw_prompt_error *e, int status, const char *code, const char *param,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = status;
    e->code = code;
    e->param = param;
    return -1;
}

/* "NAME" or "NAME@VERSION" into name (GW_PROMPT_MAX_NAME + 1 bytes) and
 * *version (0: the active one). */
static int parse_ref(const char *ref, char *name, int *version)
{
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n > GW_PROMPT_MAX_NAME)
        return -1;
    memcpy(name, ref, n);
    name[n] = '\0';
    if (!gw_prompt_name_valid(name))
        return -1;
    *version = 0;
    if (!at)
        return 0;
    const char *v = at + 1;
    if (!*v || *v == '0' || strlen(v) > 9)
        return -1;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    *version = atoi(v);
    return 0;
}

/* One input value as text: a string as it is, a number or a bool as its
 * JSON text. NULL for other types. */
static const char *value_text(struct gw_arena *a, const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        char *t = cJSON_PrintUnformatted(v);
        char *s = t ? gw_arena_strdup(a, t) : NULL;
        cJSON_free(t);
        return s;
    }
    return NULL;
}

/* The values of one rendering, and what is left of its size budget: the
 * values inserted, every occurrence counted, may not pass the body limit
 * (a variable used many times must not multiply a large input). */
struct values {
    const char **names, **texts;
    size_t n;
    long long budget;
    int too_large;
};

static const char *lookup(const char *name, size_t len, size_t *vlen, void *arg)
{
    struct values *vs = arg;
    for (size_t i = 0; i < vs->n; i++)
        if (strncmp(vs->names[i], name, len) == 0 && vs->names[i][len] == '\0') {
            *vlen = strlen(vs->texts[i]);
            if ((long long)*vlen > vs->budget) {
                vs->too_large = 1;
                return NULL;
            }
            vs->budget -= (long long)*vlen;
            return vs->texts[i];
        }
    return NULL;
}

/* Checks inputs against v's variables; fills vals. */
static int check_inputs(struct gw_request *r, const char *label, const struct pver *v,
                        const cJSON *inputs, struct values *vals, struct gw_prompt_error *e)
{
    struct gw_buf missing = {0}, unknown = {0};
    int n_missing = 0, n_unknown = 0;
    vals->names = gw_arena_calloc(r->arena, (v->n_vars + 1) * sizeof *vals->names);
    vals->texts = gw_arena_calloc(r->arena, (v->n_vars + 1) * sizeof *vals->texts);
    for (size_t i = 0; i < v->n_vars; i++) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(inputs, v->vars[i]);
        if (!in) {
            gw_buf_printf(&missing, "%s%s", n_missing++ ? ", " : "", v->vars[i]);
            continue;
        }
        const char *text = value_text(r->arena, in);
        if (!text) {
            gw_buf_free(&missing);
            return refuse(e, 400, "invalid_prompt_input", "inputs",
                          "inputs.%s must be a string, a number or a boolean (prompt %s).",
                          v->vars[i], label);
        }
        vals->names[vals->n] = v->vars[i];
        vals->texts[vals->n++] = text;
    }
    for (const cJSON *in = inputs ? inputs->child : NULL; in; in = in->next) {
        size_t i = 0;
        while (i < v->n_vars && strcmp(v->vars[i], in->string) != 0)
            i++;
        if (i == v->n_vars)
            gw_buf_printf(&unknown, "%s%.64s", n_unknown++ ? ", " : "", in->string);
    }
    int rc = 0;
    if (n_missing || n_unknown) {
        struct gw_buf declared = {0};
        for (size_t i = 0; i < v->n_vars; i++)
            gw_buf_printf(&declared, "%s%s", i ? ", " : "", v->vars[i]);
        char what[400];
        if (n_missing && n_unknown)
            snprintf(what, sizeof what, "missing variable%s: %s; unknown variable%s: %s",
                     n_missing > 1 ? "s" : "", missing.data, n_unknown > 1 ? "s" : "",
                     unknown.data);
        else if (n_missing)
            snprintf(what, sizeof what, "missing variable%s: %s", n_missing > 1 ? "s" : "",
                     missing.data);
        else
            snprintf(what, sizeof what, "unknown variable%s: %s", n_unknown > 1 ? "s" : "",
                     unknown.data);
        rc = refuse(e, 400, n_missing ? "missing_prompt_variables" : "unknown_prompt_variables",
                    "inputs", "Prompt %s: %s (it takes: %s).", label, what,
                    declared.data ? declared.data : "no variables");
        gw_buf_free(&declared);
    }
    gw_buf_free(&missing);
    gw_buf_free(&unknown);
    return rc;
}

/* The rendered text as a new cJSON string, or NULL with *e set. */
static cJSON *rendered(const char *text, struct values *vals, const char *label,
                       struct gw_prompt_error *e)
{
    struct gw_buf out = {0};
    struct gw_tpl_error te;
    int rc = gw_tpl_render(text, strlen(text), lookup, vals, &out, &te);
    cJSON *s = rc == 0 ? cJSON_CreateString(out.data ? out.data : "") : NULL;
    gw_buf_free(&out);
    if (vals->too_large)
        refuse(e, 413, "request_too_large", "inputs",
               "Prompt %s rendered with these inputs is larger than limits.max_body_bytes.", label);
    else if (rc == -2 || (rc == 0 && !s))
        refuse(e, 500, "internal_error", NULL, "Out of memory rendering prompt %s.", label);
    else if (rc != 0) /* the template was checked when it was stored */
        refuse(e, 500, "internal_error", NULL, "Prompt %s cannot be rendered: %s.", label, te.msg);
    return s;
}

static cJSON *message(const char *role, cJSON *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddItemToObject(m, "content", content);
    return m;
}

/* The template's messages, then the caller's (moved), as r->json's
 * messages. */
static int render_messages(struct gw_request *r, const struct pver *v, struct values *vals,
                           const char *label, struct gw_prompt_error *e)
{
    cJSON *out = cJSON_CreateArray();
    if (v->system) {
        cJSON *s = rendered(v->system, vals, label, e);
        if (!s)
            goto fail;
        cJSON_AddItemToArray(out, message("system", s));
    }
    for (size_t i = 0; i < v->n_msgs; i++) {
        cJSON *s = rendered(v->msgs[i].content, vals, label, e);
        if (!s)
            goto fail;
        cJSON_AddItemToArray(out, message(v->msgs[i].role, s));
    }
    cJSON *mine = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    while (cJSON_IsArray(mine) && mine->child)
        cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(mine, mine->child));
    cJSON_DeleteItemFromObjectCaseSensitive(r->json, "messages");
    cJSON_AddItemToObject(r->json, "messages", out);
    return 0;
fail:
    cJSON_Delete(out);
    return -1;
}

/* Template params are defaults: each one the request does not set (the two
 * names of the answer's size count as one). */
static void add_params(struct gw_request *r, const struct pver *v)
{
    for (const cJSON *p = v->params ? v->params->child : NULL; p; p = p->next) {
        const char *k = p->string;
        if (cJSON_GetObjectItemCaseSensitive(r->json, k))
            continue;
        if ((strcmp(k, "max_tokens") == 0 &&
             cJSON_GetObjectItemCaseSensitive(r->json, "max_completion_tokens")) ||
            (strcmp(k, "max_completion_tokens") == 0 &&
             cJSON_GetObjectItemCaseSensitive(r->json, "max_tokens")))
            continue;
        cJSON_AddItemToObject(r->json, k, cJSON_Duplicate(p, 1));
    }
}

int gw_prompts_apply(struct gw_request *r, const char *ref, const cJSON *inputs,
                     struct gw_prompt_error *e)
{
    char name[GW_PROMPT_MAX_NAME + 1];
    int version = 0;
    if (parse_ref(ref, name, &version) != 0)
        return refuse(e, 400, "invalid_prompt_reference", "prompt",
                      "'%.80s' is not a prompt reference: write NAME or NAME@VERSION (a name of "
                      "letters, digits, '_', '-', '.', at most 64; a version number from 1).",
                      ref);
    unsigned tok;
    const struct pset *ps = gw_snap_enter(&prompts_snap, &tok);
    int rc = -1;
    const struct pentry *p = find_prompt(ps, name);
    const struct pver *v = NULL;
    char label[GW_PROMPT_MAX_NAME + 16];
    if (!p) {
        refuse(e, 404, "prompt_not_found", "prompt", "No prompt named '%s'.", name);
        goto out;
    }
    v = find_version(p, version ? version : p->active);
    if (!v) {
        refuse(e, 404, "prompt_not_found", "prompt",
               "Prompt '%s' has no version %d (its versions: %d to %d; active: %d).", name,
               version ? version : p->active, p->versions[0].version, p->versions[p->n - 1].version,
               p->active);
        goto out;
    }
    snprintf(label, sizeof label, "%s@%d", name, v->version);
    r->prompt_name = gw_arena_strdup(r->arena, name);
    r->prompt_version = v->version;
    struct values vals = {.budget = r->cfg->limits.max_body_bytes};
    if (check_inputs(r, label, v, inputs, &vals, e) != 0 ||
        render_messages(r, v, &vals, label, e) != 0)
        goto out;
    add_params(r, v);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    if (v->model && (v->force_model || !cJSON_IsString(model))) {
        cJSON_DeleteItemFromObjectCaseSensitive(r->json, "model");
        cJSON_AddStringToObject(r->json, "model", v->model);
        model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    }
    if (!cJSON_IsString(model)) {
        refuse(e, 400, "missing_required_parameter", "model",
               "Missing required parameter: 'model' (prompt %s names no model).", label);
        goto out;
    }
    r->model_name = gw_arena_strdup(r->arena, model->valuestring);
    rc = 0;
out:
    gw_snap_exit(&prompts_snap, tok);
    if (rc == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(r->json, "prompt");
        cJSON_DeleteItemFromObjectCaseSensitive(r->json, "inputs");
        r->json_rewritten = 1;
    }
    return rc;
}

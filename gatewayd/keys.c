/* Key snapshot: built by gw_keys_reload (admin thread or start-up) into its
 * own arena, published through a gw_snap, read by gw_keys_authenticate on
 * any MHD thread. A key's table slot is chosen by its SHA-256, which is
 * already uniformly distributed, so the hash needs no further mixing. */
#include "keys.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "key_settings.h"
#include "request.h"
#include "ratelimit.h"
#include "snapshot.h"

struct keyent {
    unsigned char hash[GW_KEY_HASH_LEN];
    int used;
    const char *id, *name, *team_id, *team_name;
    const char **models, **team_models; /* allowed models; NULL = all */
    int is_admin;
    long long revoked_at, expires_at;
    long long valid_until;                       /* a rotated-out secret's grace end; 0 = none */
    struct gw_rl_limits key_limits, team_limits; /* -1: not set */
    struct gw_rl_state *key_rl, *team_rl;
    struct gw_budget_limit key_budget, team_budget;
    struct gw_key_settings settings; /* the key's own stage switches */
};

struct keyset {
    struct gw_arena *arena;
    struct keyent *slots;
    size_t mask;
    long n_keys, n_teams, n_entries; /* entries: secrets, current and rotated-out */
};

/* columns 10..17: the key's and the team's limits (NULL: not set);
 * 18..21: their budgets and budget periods; 22 (after these): the team's
 * models; 23..29: the key's stage switches (key_settings.h) */
#define LIMIT_COLS                                                                                 \
    "k.rpm, k.tpm, k.tpd, k.max_parallel, t.rpm, t.tpm, t.tpd, t.max_parallel, "                   \
    "k.budget_usd, k.budget_period, t.budget_usd, t.budget_period "

static void keyset_free(void *p);
static struct gw_snap keys_snap = GW_SNAP_INITIALIZER(keyset_free);

/* A subject's budget from two columns (amount, period); its spend for the
 * current period is loaded from the usage table the first time. */
static void load_budget(sqlite3 *db, sqlite3_stmt *st, int col, const char *column, const char *id,
                        struct gw_rl_state *state, struct gw_budget_limit *out)
{
    out->nano = -1;
    if (sqlite3_column_type(st, col) == SQLITE_NULL || !state || !id)
        return;
    int p = gw_budget_period_parse((const char *)sqlite3_column_text(st, col + 1));
    out->period = p < 0 ? GW_PERIOD_NONE : (enum gw_budget_period)p;
    out->nano = (long long)(sqlite3_column_double(st, col) * 1e9 + 0.5);
    gw_budget_load(&state->spend, db, column, id, out->period);
}

static long long col_limit(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static void keyset_free(void *p)
{
    struct keyset *ks = p;
    if (ks)
        gw_arena_destroy(ks->arena);
}

static const char *col_text(struct gw_arena *a, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? gw_arena_strdup(a, (const char *)s) : NULL;
}

static const char **parse_models(struct gw_arena *a, const char *json)
{
    if (!json)
        return NULL;
    cJSON *arr = cJSON_Parse(json);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return NULL;
    }
    int n = cJSON_GetArraySize(arr);
    const char **out = gw_arena_calloc(a, (size_t)(n + 1) * sizeof *out);
    int k = 0;
    for (cJSON *it = arr->child; it; it = it->next)
        if (cJSON_IsString(it))
            out[k++] = gw_arena_strdup(a, it->valuestring);
    cJSON_Delete(arr);
    return out;
}

/* Reloads are serialised: two gwctl sessions changing keys at once must not
 * publish their snapshots in the opposite order of their reads. */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

static int reload_locked(const char *db_path, char *err, size_t errlen);

int gw_keys_reload(const char *db_path, char *err, size_t errlen)
{
    pthread_mutex_lock(&reload_mu);
    int rc = reload_locked(db_path, err, errlen);
    pthread_mutex_unlock(&reload_mu);
    return rc;
}

static int reload_locked(const char *db_path, char *err, size_t errlen)
{
    sqlite3 *db = gw_db_open(db_path, GW_DB_READONLY, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    sqlite3_stmt *st = NULL;
    struct keyset *ks = NULL;
    struct gw_arena *a = gw_arena_new(16384);
    if (!a)
        goto out;
    ks = gw_arena_calloc(a, sizeof *ks);
    ks->arena = a;

    long count = 0;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM keys), (SELECT count(*) FROM teams)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto dberr;
    count = sqlite3_column_int64(st, 0);
    ks->n_keys = count;
    ks->n_teams = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;

    size_t cap = 16;
    while (cap < (size_t)count * 4) /* each key may have a previous secret too */
        cap *= 2;
    ks->slots = gw_arena_calloc(a, cap * sizeof *ks->slots);
    ks->mask = cap - 1;
    if (sqlite3_prepare_v2(db,
                           "SELECT k.key_hash, k.id, k.name, k.team_id, t.name, k.models, "
                           "k.is_admin, k.revoked_at, k.expires_at, 0, " LIMIT_COLS
                           ", t.models, " GW_KEY_SETTINGS_COLS
                           " FROM keys k LEFT JOIN teams t ON t.id = k.team_id "
                           "UNION ALL "
                           "SELECT k.prev_key_hash, k.id, k.name, k.team_id, t.name, k.models, "
                           "k.is_admin, k.revoked_at, k.expires_at, k.prev_valid_until, " LIMIT_COLS
                           ", t.models, " GW_KEY_SETTINGS_COLS
                           " FROM keys k LEFT JOIN teams t ON t.id = k.team_id "
                           "WHERE k.prev_key_hash IS NOT NULL AND k.prev_valid_until > unixepoch()",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != GW_KEY_HASH_LEN || ks->n_entries >= 2 * count)
            continue;
        const unsigned char *h = sqlite3_column_blob(st, 0);
        size_t i;
        memcpy(&i, h, sizeof i);
        while (ks->slots[i & ks->mask].used)
            i++;
        struct keyent *e = &ks->slots[i & ks->mask];
        e->used = 1;
        memcpy(e->hash, h, GW_KEY_HASH_LEN);
        e->id = col_text(a, st, 1);
        e->name = col_text(a, st, 2);
        e->team_id = col_text(a, st, 3);
        e->team_name = col_text(a, st, 4);
        e->models = parse_models(a, (const char *)sqlite3_column_text(st, 5));
        e->team_models = parse_models(a, (const char *)sqlite3_column_text(st, 22));
        e->is_admin = sqlite3_column_int(st, 6);
        e->revoked_at = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 7);
        e->expires_at = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 8);
        e->valid_until = sqlite3_column_int64(st, 9);
        for (int d = 0; d < GW_RL_DIMS; d++) {
            e->key_limits.per[d] = col_limit(st, 10 + d);
            e->team_limits.per[d] = col_limit(st, 14 + d);
        }
        e->key_limits.parallel = col_limit(st, 13);
        e->team_limits.parallel = col_limit(st, 17);
        e->key_rl = gw_rl_state_for(e->id);
        e->team_rl = e->team_id ? gw_rl_state_for(e->team_id) : NULL;
        load_budget(db, st, 18, "key_id", e->id, e->key_rl, &e->key_budget);
        load_budget(db, st, 20, "team_id", e->team_id, e->team_rl, &e->team_budget);
        gw_key_settings_read(st, 23, &e->settings);
        ks->n_entries++;
    }
    if (step != SQLITE_DONE)
        goto dberr;
    gw_snap_publish(&keys_snap, ks);
    ks = NULL;
    rc = 0;
    goto out;
dberr:
    snprintf(err, errlen, "loading keys: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (ks)
        keyset_free(ks);
    else if (rc != 0)
        gw_arena_destroy(a);
    return rc;
}

/* A NULL-terminated list copied into a (NULL stays NULL: all models). */
static const char **copy_models(struct gw_arena *a, const char **models)
{
    if (!models)
        return NULL;
    size_t n = 0;
    while (models[n])
        n++;
    const char **out = gw_arena_calloc(a, (n + 1) * sizeof *out);
    for (size_t k = 0; k < n; k++)
        out[k] = gw_arena_strdup(a, models[k]);
    return out;
}

enum gw_auth_result gw_keys_authenticate(struct gw_request *r, const char *secret, size_t len)
{
    unsigned char h[GW_KEY_HASH_LEN];
    gw_key_hash(secret, len, h);
    unsigned tok;
    struct keyset *ks = gw_snap_enter(&keys_snap, &tok);
    enum gw_auth_result res = GW_AUTH_UNKNOWN;
    size_t i;
    memcpy(&i, h, sizeof i);
    for (; ks && ks->slots[i & ks->mask].used; i++) {
        const struct keyent *e = &ks->slots[i & ks->mask];
        if (memcmp(e->hash, h, GW_KEY_HASH_LEN) != 0)
            continue;
        long long now = time(NULL);
        if (e->revoked_at && e->revoked_at <= now) {
            res = GW_AUTH_REVOKED;
        } else if ((e->expires_at && e->expires_at <= now) ||
                   (e->valid_until && e->valid_until <= now)) {
            res = GW_AUTH_EXPIRED;
        } else {
            struct gw_principal *w = &r->who;
            w->key_id = gw_arena_strdup(r->arena, e->id);
            w->key_name = gw_arena_strdup(r->arena, e->name);
            w->team_id = gw_arena_strdup(r->arena, e->team_id);
            w->team_name = gw_arena_strdup(r->arena, e->team_name);
            w->is_admin = e->is_admin;
            w->key_rl = e->key_rl;
            w->team_rl = e->team_rl;
            w->key_limits = e->key_limits;
            w->team_limits = e->team_limits;
            w->key_budget = e->key_budget;
            w->team_budget = e->team_budget;
            w->settings = e->settings;
            w->models = copy_models(r->arena, e->models);
            w->team_models = copy_models(r->arena, e->team_models);
            res = GW_AUTH_OK;
        }
        break;
    }
    gw_snap_exit(&keys_snap, tok);
    return res;
}

void gw_keys_counts(long *keys, long *teams)
{
    unsigned tok;
    struct keyset *ks = gw_snap_enter(&keys_snap, &tok);
    *keys = ks ? ks->n_keys : 0;
    *teams = ks ? ks->n_teams : 0;
    gw_snap_exit(&keys_snap, tok);
}

void gw_keys_shutdown(void)
{
    gw_snap_clear(&keys_snap);
}

/* The response cache's store (cache.h): the hot in-memory tier, the SQLite
 * tier behind it, the single-flight table, stats, inspection and purge.
 *
 * DESIGN: the hot tier is a hash table with an LRU list, split into shards
 * by the key's top bits (16 when cache.max_entries is at least 1,024, else
 * one, so small tiers evict in exact LRU order), each under its own mutex
 * held for a table lookup and a list move, never for I/O; each shard holds
 * its share of the bounds. Entries are immutable single allocations with a
 * reference count, so a hit is replayed outside the lock and an eviction
 * never frees an entry in use. A hot hit does no SQLite at all.
 *
 * A hot miss reads SQLite on a read-only connection of the calling thread
 * (WAL: readers never wait for the writer), and a hit there is promoted.
 * Every write to SQLite (a store, a hit's count, an eviction, an expiry) is
 * an async item of the writer thread (writer.h), committed with the usage
 * rows; the tier's totals are kept by triggers (schema 007), so the size cap
 * costs one read per store: while the tier is over cache.db_max_bytes, the
 * least recently used rows go (and their hot copies with them). Expired rows
 * are deleted at most once a minute; readers never return one.
 *
 * The flights live in the shards too, so "no entry" and "join the flight"
 * are decided under one lock: a leader stores its answer into the hot tier
 * before it ends its flight, so a request either finds the entry or joins
 * the flight, never neither while one is on its way. */
#include "cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "db.h"
#include "embed.h"
#include "log.h"
#include "writer.h"

#define MAX_SHARDS     16
#define FLIGHT_BUCKETS 64
#define PRUNE_EVERY_MS 60000
#define EVICT_BATCH    64

/* A hot entry: the public part first, then what the store keeps. */
struct hot {
    struct gw_cache_entry e;
    const char *key_id;      /* for purge by key */
    atomic_int refs;         /* the table's (while in it) and each user's */
    struct hot *chain;       /* bucket chain */
    struct hot *prev, *next; /* LRU list: head is the most recent */
};

struct flight {
    unsigned char key[GW_CACHE_KEY_LEN];
    struct gw_cache_waiter *head, *tail;
    struct flight *next;
};

struct shard {
    pthread_mutex_t mu;
    struct hot **buckets;
    size_t n_buckets, n, bytes;
    struct hot *head, *tail;
    struct flight *flights[FLIGHT_BUCKETS];
};

static struct {
    pthread_mutex_t init_mu;
    int ready;
    unsigned n_shards;
    struct shard *shards;
    char db_path[4096];
    atomic_int db_gen; /* changes when db_path does: per-thread connections reopen */
    atomic_llong lookups, hits_exact, misses, waits, stores, evictions_hot, evictions_db,
        expired_hot, expired_db, db_reads, tokens_saved, saved_nano_usd, hits_semantic,
        semantic_rejected, embed_errors;
    atomic_llong hot_entries, hot_bytes, db_entries, db_bytes;
    long long pruned_ms; /* writer thread only */
} S = {.init_mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t key_hash(const unsigned char *k)
{
    uint64_t h;
    memcpy(&h, k, sizeof h);
    return h;
}

static struct shard *shard_of(const unsigned char *key)
{
    return &S.shards[(key_hash(key) >> 56) & (S.n_shards - 1)];
}

/* ---- the neutral answer as JSON -------------------------------------------- */

int gw_cache_answer_json(const struct gw_cache_answer *a, struct gw_buf *out)
{
    int rc = gw_buf_puts(out, "{\"content\":");
    rc |= gw_buf_json_str(out, a->content ? a->content : "");
    rc |= gw_buf_puts(out, ",\"tool_calls\":[");
    for (size_t i = 0; i < a->n_tools; i++) {
        rc |= gw_buf_puts(out, i ? ",{\"id\":" : "{\"id\":");
        rc |= gw_buf_json_str(out, a->tools[i].id ? a->tools[i].id : "");
        rc |= gw_buf_puts(out, ",\"name\":");
        rc |= gw_buf_json_str(out, a->tools[i].name ? a->tools[i].name : "");
        rc |= gw_buf_puts(out, ",\"arguments\":");
        rc |= gw_buf_json_str(out, a->tools[i].args ? a->tools[i].args : "");
        rc |= gw_buf_puts(out, "}");
    }
    rc |= gw_buf_puts(out, "],\"finish_reason\":");
    rc |= gw_buf_json_str(out, a->finish ? a->finish : "stop");
    rc |= gw_buf_printf(out, ",\"prompt_tokens\":%lld,\"completion_tokens\":%lld", a->prompt_tokens,
                        a->completion_tokens);
    if (a->model) {
        rc |= gw_buf_puts(out, ",\"model\":");
        rc |= gw_buf_json_str(out, a->model);
    }
    if (a->provider) {
        rc |= gw_buf_puts(out, ",\"provider\":");
        rc |= gw_buf_json_str(out, a->provider);
    }
    rc |= gw_buf_puts(out, "}");
    return rc ? -1 : 0;
}

static const char *json_str(const cJSON *o, const char *k, struct gw_arena *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? gw_arena_strdup(a, v->valuestring) : NULL;
}

static long long json_count(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15
               ? (long long)v->valuedouble
               : 0;
}

int gw_cache_answer_parse(const char *json, size_t n, struct gw_arena *a,
                          struct gw_cache_answer *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(json, n);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
    int rc = -1;
    if (!cJSON_IsObject(j) || !cJSON_IsArray(calls))
        goto out;
    out->content = json_str(j, "content", a);
    out->finish = json_str(j, "finish_reason", a);
    if (!out->content || !out->finish)
        goto out;
    out->content_len = strlen(out->content);
    out->prompt_tokens = json_count(j, "prompt_tokens");
    out->completion_tokens = json_count(j, "completion_tokens");
    out->model = json_str(j, "model", a);
    out->provider = json_str(j, "provider", a);
    out->n_tools = (size_t)cJSON_GetArraySize(calls);
    if (out->n_tools) {
        out->tools = gw_arena_calloc(a, out->n_tools * sizeof *out->tools);
        if (!out->tools)
            goto out;
    }
    size_t i = 0;
    for (const cJSON *t = calls->child; t; t = t->next, i++) {
        struct gw_cache_tool *ct = &out->tools[i];
        ct->id = json_str(t, "id", a);
        ct->name = json_str(t, "name", a);
        ct->args = json_str(t, "arguments", a);
        if (!ct->id || !ct->name || !ct->args)
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- hot entries -------------------------------------------------------------- */

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies s into the entry's string area at *at (NULL stays NULL). */
static const char *place(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *p = *at;
    *at += n;
    return p;
}

/* One allocation holding the entry, its tool calls and every string. */
static struct hot *entry_new(const unsigned char *key, const char *partition, const char *key_id,
                             const char *model, const struct gw_cache_answer *a,
                             long long created_ms, long long expires_ms, double cost)
{
    size_t strings = slen(partition) + slen(key_id) + slen(model) + a->content_len + 1 +
                     slen(a->finish) + slen(a->model) + slen(a->provider);
    for (size_t i = 0; i < a->n_tools; i++)
        strings += slen(a->tools[i].id) + slen(a->tools[i].name) + slen(a->tools[i].args);
    size_t size = sizeof(struct hot) + a->n_tools * sizeof(struct gw_cache_tool) + strings;
    struct hot *h = malloc(size);
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    struct gw_cache_tool *tools = (struct gw_cache_tool *)(h + 1);
    char *at = (char *)(tools + a->n_tools);
    struct gw_cache_entry *e = &h->e;
    memcpy(e->key, key, GW_CACHE_KEY_LEN);
    e->created_ms = created_ms;
    e->expires_ms = expires_ms;
    e->cost_usd = cost;
    e->bytes = size;
    e->partition = place(&at, partition);
    h->key_id = place(&at, key_id);
    e->model = place(&at, model);
    memcpy(at, a->content ? a->content : "", a->content_len);
    at[a->content_len] = '\0';
    e->answer.content = at;
    e->answer.content_len = a->content_len;
    at += a->content_len + 1;
    e->answer.finish = place(&at, a->finish);
    e->answer.model = place(&at, a->model);
    e->answer.provider = place(&at, a->provider);
    e->answer.prompt_tokens = a->prompt_tokens;
    e->answer.completion_tokens = a->completion_tokens;
    e->answer.tools = a->n_tools ? tools : NULL;
    e->answer.n_tools = a->n_tools;
    for (size_t i = 0; i < a->n_tools; i++) {
        tools[i].id = place(&at, a->tools[i].id);
        tools[i].name = place(&at, a->tools[i].name);
        tools[i].args = place(&at, a->tools[i].args);
    }
    atomic_init(&h->refs, 1);
    return h;
}

static void hot_release(struct hot *h)
{
    if (h && atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

void gw_cache_entry_release(const struct gw_cache_entry *e)
{
    hot_release((struct hot *)e); /* e is the first member of its hot entry */
}

/* ---- the shard's table (its mutex held) ---------------------------------------- */

static struct hot **bucket(struct shard *sh, const unsigned char *key)
{
    return &sh->buckets[key_hash(key) & (sh->n_buckets - 1)];
}

static struct hot *table_get(struct shard *sh, const unsigned char *key)
{
    for (struct hot *h = *bucket(sh, key); h; h = h->chain)
        if (memcmp(h->e.key, key, GW_CACHE_KEY_LEN) == 0)
            return h;
    return NULL;
}

static void lru_unlink(struct shard *sh, struct hot *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        sh->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        sh->tail = h->prev;
    h->prev = h->next = NULL;
}

static void lru_push(struct shard *sh, struct hot *h)
{
    h->prev = NULL;
    h->next = sh->head;
    if (sh->head)
        sh->head->prev = h;
    else
        sh->tail = h;
    sh->head = h;
}

/* Takes h out of the table; the table's reference goes to *drop (released
 * by the caller once the lock is let go). */
static void table_remove(struct shard *sh, struct hot *h, struct hot **drop)
{
    struct hot **p = bucket(sh, h->e.key);
    while (*p != h)
        p = &(*p)->chain;
    *p = h->chain;
    h->chain = NULL;
    lru_unlink(sh, h);
    sh->n--;
    sh->bytes -= h->e.bytes;
    atomic_fetch_sub(&S.hot_entries, 1);
    atomic_fetch_sub(&S.hot_bytes, (long long)h->e.bytes);
    h->chain = *drop; /* a private list of what to release */
    *drop = h;
}

static void release_list(struct hot *drop)
{
    while (drop) {
        struct hot *next = drop->chain;
        hot_release(drop);
        drop = next;
    }
}

static void table_grow(struct shard *sh)
{
    size_t n = sh->n_buckets * 2;
    struct hot **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < sh->n_buckets; i++) {
        struct hot *h = sh->buckets[i];
        while (h) {
            struct hot *next = h->chain;
            struct hot **at = &b[key_hash(h->e.key) & (n - 1)];
            h->chain = *at;
            *at = h;
            h = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->n_buckets = n;
}

/* This shard's share of the hot tier's bounds. */
static void shard_bounds(const struct gw_cache_cfg *cfg, size_t *max_n, size_t *max_bytes)
{
    long long n = cfg->max_entries / S.n_shards, b = cfg->max_bytes / S.n_shards;
    *max_n = (size_t)(cfg->max_entries > 0 && n < 1 ? 1 : n);
    *max_bytes = (size_t)b;
}

/* Puts h (holding one reference for the table) in, replacing an entry with
 * its key and evicting from the LRU end to stay within the bounds; when h
 * cannot fit at all its reference goes to *drop. */
static void table_put(const struct gw_cache_cfg *cfg, struct shard *sh, struct hot *h,
                      struct hot **drop)
{
    size_t max_n, max_b;
    shard_bounds(cfg, &max_n, &max_b);
    struct hot *old = table_get(sh, h->e.key);
    if (old)
        table_remove(sh, old, drop);
    if (max_n == 0 || h->e.bytes > max_b) {
        h->chain = *drop;
        *drop = h;
        return;
    }
    while (sh->tail && (sh->n + 1 > max_n || sh->bytes + h->e.bytes > max_b)) {
        table_remove(sh, sh->tail, drop);
        atomic_fetch_add(&S.evictions_hot, 1);
    }
    if (sh->n >= sh->n_buckets)
        table_grow(sh);
    struct hot **b = bucket(sh, h->e.key);
    h->chain = *b;
    *b = h;
    lru_push(sh, h);
    sh->n++;
    sh->bytes += h->e.bytes;
    atomic_fetch_add(&S.hot_entries, 1);
    atomic_fetch_add(&S.hot_bytes, (long long)h->e.bytes);
}

/* The live entry for key with a reference for the caller (LRU updated), or
 * NULL; an expired one is dropped. */
static struct hot *hot_get(struct shard *sh, const unsigned char *key, long long now_ms,
                           struct hot **drop)
{
    struct hot *h = table_get(sh, key);
    if (!h)
        return NULL;
    if (h->e.expires_ms <= now_ms) {
        table_remove(sh, h, drop);
        atomic_fetch_add(&S.expired_hot, 1);
        return NULL;
    }
    lru_unlink(sh, h);
    lru_push(sh, h);
    atomic_fetch_add(&h->refs, 1);
    return h;
}

/* Drops key's hot copy, if any (the SQLite row went). */
static void hot_forget(const unsigned char *key)
{
    if (!S.ready)
        return;
    struct shard *sh = shard_of(key);
    struct hot *drop = NULL;
    pthread_mutex_lock(&sh->mu);
    struct hot *h = table_get(sh, key);
    if (h)
        table_remove(sh, h, &drop);
    pthread_mutex_unlock(&sh->mu);
    release_list(drop);
}

/* ---- flights (the shard's mutex held) ------------------------------------------ */

static struct flight **flight_slot(struct shard *sh, const unsigned char *key)
{
    struct flight **p = &sh->flights[key_hash(key) % FLIGHT_BUCKETS];
    while (*p && memcmp((*p)->key, key, GW_CACHE_KEY_LEN) != 0)
        p = &(*p)->next;
    return p;
}

static void flight_join(struct flight *f, struct gw_cache_waiter *w)
{
    w->next = NULL;
    atomic_store(&w->attached, 1);
    if (f->tail)
        f->tail->next = w;
    else
        f->head = w;
    f->tail = w;
}

struct gw_cache_waiter *gw_cache_flight_end(const unsigned char key[GW_CACHE_KEY_LEN])
{
    struct shard *sh = shard_of(key);
    pthread_mutex_lock(&sh->mu);
    struct flight **p = flight_slot(sh, key), *f = *p;
    struct gw_cache_waiter *list = NULL;
    if (f) {
        *p = f->next;
        list = f->head;
        for (struct gw_cache_waiter *w = list; w; w = w->next)
            atomic_store(&w->attached, 0);
    }
    pthread_mutex_unlock(&sh->mu);
    free(f);
    return list;
}

int gw_cache_flight_leave(const unsigned char key[GW_CACHE_KEY_LEN], struct gw_cache_waiter *w)
{
    struct shard *sh = shard_of(key);
    int left = 0;
    pthread_mutex_lock(&sh->mu);
    struct flight *f = atomic_load(&w->attached) ? *flight_slot(sh, key) : NULL;
    if (f) {
        struct gw_cache_waiter **p = &f->head, *prev = NULL;
        while (*p && *p != w) {
            prev = *p;
            p = &(*p)->next;
        }
        if (*p) {
            *p = w->next;
            if (f->tail == w)
                f->tail = prev;
            w->next = NULL;
            atomic_store(&w->attached, 0);
            left = 1;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return left;
}

/* ---- the SQLite tier: reads ------------------------------------------------------ */

/* A thread's read-only connection and its prepared lookup. */
struct reader {
    sqlite3 *db;
    sqlite3_stmt *get;
    int gen;
};

static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;

static void reader_close(void *p)
{
    struct reader *rd = p;
    sqlite3_finalize(rd->get);
    sqlite3_close(rd->db);
    free(rd);
}

static void reader_make_key(void)
{
    pthread_key_create(&reader_key, reader_close);
}

static struct reader *reader(void)
{
    pthread_once(&reader_once, reader_make_key);
    struct reader *rd = pthread_getspecific(reader_key);
    int gen = atomic_load(&S.db_gen);
    if (rd && rd->gen != gen) {
        reader_close(rd);
        pthread_setspecific(reader_key, NULL);
        rd = NULL;
    }
    if (rd || !S.db_path[0])
        return rd;
    char err[512];
    sqlite3 *db = gw_db_open(S.db_path, GW_DB_READONLY, err, sizeof err);
    sqlite3_stmt *st = NULL;
    if (db && sqlite3_prepare_v3(db,
                                 "SELECT answer, created_at, expires_at, partition, key_id, model, "
                                 "cost_usd FROM cache_entries WHERE key = ?1 AND expires_at > ?2",
                                 -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        db = NULL;
    }
    if (!db || !(rd = calloc(1, sizeof *rd))) {
        gw_error("cache: cannot read the cache tier: %s", db ? "out of memory" : err);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return NULL;
    }
    rd->db = db;
    rd->get = st;
    rd->gen = gen;
    pthread_setspecific(reader_key, rd);
    return rd;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* key's live row in SQLite as a new hot entry (one reference), or NULL. */
static struct hot *db_get(const unsigned char *key, long long now_ms)
{
    struct reader *rd = reader();
    if (!rd)
        return NULL;
    atomic_fetch_add(&S.db_reads, 1);
    sqlite3_stmt *st = rd->get;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, key, GW_CACHE_KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    struct hot *h = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct gw_arena *a = gw_arena_new(4096);
        struct gw_cache_answer ans;
        const char *json = col_text(st, 0);
        if (a && json &&
            gw_cache_answer_parse(json, (size_t)sqlite3_column_bytes(st, 0), a, &ans) == 0)
            h = entry_new(key, col_text(st, 3), col_text(st, 4), col_text(st, 5), &ans,
                          sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                          sqlite3_column_double(st, 6));
        else
            gw_warn("cache: an entry in SQLite cannot be read; ignored");
        gw_arena_destroy(a);
    } else if (rc != SQLITE_DONE) {
        gw_error("cache: reading the cache tier: %s", sqlite3_errmsg(rd->db));
    }
    sqlite3_reset(st);
    return h;
}

/* ---- lookup ---------------------------------------------------------------------- */

enum gw_cache_found gw_cache_find(const struct gw_cache_cfg *cfg,
                                  const unsigned char key[GW_CACHE_KEY_LEN], long long now_ms,
                                  int lookup, int lead, struct gw_cache_waiter *w,
                                  const struct gw_cache_entry **hit)
{
    *hit = NULL;
    if (!S.ready)
        return GW_CACHE_MISS;
    struct shard *sh = shard_of(key);
    struct hot *drop = NULL, *h = NULL;
    enum gw_cache_found found = GW_CACHE_MISS;
    if (lookup) {
        atomic_fetch_add(&S.lookups, 1);
        pthread_mutex_lock(&sh->mu);
        h = hot_get(sh, key, now_ms, &drop);
        struct flight *f = h || !w ? NULL : *flight_slot(sh, key);
        if (f)
            flight_join(f, w);
        pthread_mutex_unlock(&sh->mu);
        release_list(drop);
        drop = NULL;
        if (h || f) {
            found = h ? GW_CACHE_HIT : GW_CACHE_WAIT;
            goto out;
        }
        struct hot *fresh = db_get(key, now_ms);
        if (fresh) { /* promoted: one reference for the table, one for the caller */
            atomic_fetch_add(&fresh->refs, 1);
            pthread_mutex_lock(&sh->mu);
            table_put(cfg, sh, fresh, &drop);
            pthread_mutex_unlock(&sh->mu);
            release_list(drop);
            h = fresh;
            found = GW_CACHE_HIT;
            goto out;
        }
    }
    pthread_mutex_lock(&sh->mu);
    if (lookup && (h = hot_get(sh, key, now_ms, &drop))) {
        found = GW_CACHE_HIT;
    } else {
        struct flight **slot = flight_slot(sh, key), *f = *slot;
        if (f && lookup && w) {
            flight_join(f, w);
            found = GW_CACHE_WAIT;
        } else if (!f && lead && (f = calloc(1, sizeof *f))) {
            memcpy(f->key, key, GW_CACHE_KEY_LEN);
            *slot = f;
            found = GW_CACHE_LEAD;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    release_list(drop);
out:
    if (found == GW_CACHE_HIT) {
        atomic_fetch_add(&S.hits_exact, 1);
        *hit = &h->e;
    } else if (found == GW_CACHE_WAIT) {
        atomic_fetch_add(&S.waits, 1);
    } else if (lookup) {
        atomic_fetch_add(&S.misses, 1);
    }
    return found;
}

const struct gw_cache_entry *gw_cache_get(const struct gw_cache_cfg *cfg,
                                          const unsigned char key[GW_CACHE_KEY_LEN],
                                          long long now_ms)
{
    if (!S.ready)
        return NULL;
    struct shard *sh = shard_of(key);
    struct hot *drop = NULL;
    pthread_mutex_lock(&sh->mu);
    struct hot *h = hot_get(sh, key, now_ms, &drop);
    pthread_mutex_unlock(&sh->mu);
    release_list(drop);
    if (h)
        return &h->e;
    if (!(h = db_get(key, now_ms)))
        return NULL;
    drop = NULL; /* promoted: one reference for the table, one for the caller */
    atomic_fetch_add(&h->refs, 1);
    pthread_mutex_lock(&sh->mu);
    table_put(cfg, sh, h, &drop);
    pthread_mutex_unlock(&sh->mu);
    release_list(drop);
    return &h->e;
}

void gw_cache_count_semantic(int hit, int rejected)
{
    if (hit) { /* the exact tier counted it a miss */
        atomic_fetch_sub(&S.misses, 1);
        atomic_fetch_add(&S.hits_semantic, 1);
    }
    atomic_fetch_add(&S.semantic_rejected, rejected);
}

void gw_cache_count_embed_error(void)
{
    atomic_fetch_add(&S.embed_errors, 1);
}

void gw_cache_count_served(int waited, long long tokens, double usd)
{
    if (waited)
        atomic_fetch_add(&S.hits_exact, 1);
    atomic_fetch_add(&S.tokens_saved, tokens);
    atomic_fetch_add(&S.saved_nano_usd, (long long)(usd * 1e9 + 0.5));
}

void gw_cache_count_unserved(void)
{
    atomic_fetch_add(&S.misses, 1);
}

/* ---- the SQLite tier: writes (writer thread) ------------------------------------ */

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v2(db, sql, -1, out, NULL);
}

/* The tier's totals, published for stats. */
static int read_totals(sqlite3 *db, long long *entries, long long *bytes)
{
    sqlite3_stmt *st;
    int rc = prepare(db, "SELECT entries, bytes FROM cache_totals WHERE id = 1", &st);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *entries = sqlite3_column_int64(st, 0);
        *bytes = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static void publish_totals(sqlite3 *db)
{
    long long n = 0, b = 0;
    if (read_totals(db, &n, &b) == SQLITE_OK) {
        atomic_store(&S.db_entries, n);
        atomic_store(&S.db_bytes, b);
    }
}

/* Rows chosen for deletion: collected first, deleted after the SELECT is
 * done (a table is not changed under its own running SELECT). */
struct victims {
    int n;
    long long id[EVICT_BATCH], bytes[EVICT_BATCH];
    unsigned char key[EVICT_BATCH][GW_CACHE_KEY_LEN];
};

/* Up to EVICT_BATCH rows from sql (selecting id, key, bytes; arg is its ?1,
 * the batch size its ?2). */
static int choose(sqlite3 *db, const char *sql, long long arg, struct victims *v)
{
    sqlite3_stmt *st;
    v->n = 0;
    int rc = prepare(db, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    sqlite3_bind_int(st, 2, EVICT_BATCH);
    while (v->n < EVICT_BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        v->id[v->n] = sqlite3_column_int64(st, 0);
        memset(v->key[v->n], 0, GW_CACHE_KEY_LEN);
        if (sqlite3_column_bytes(st, 1) == GW_CACHE_KEY_LEN)
            memcpy(v->key[v->n], sqlite3_column_blob(st, 1), GW_CACHE_KEY_LEN);
        v->bytes[v->n] = sqlite3_column_int64(st, 2);
        v->n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Deletes the first n victims and their hot copies. */
static int delete_victims(sqlite3 *db, const struct victims *v, int n)
{
    sqlite3_stmt *del;
    int rc = prepare(db, "DELETE FROM cache_entries WHERE id = ?", &del);
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, v->id[i]);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        hot_forget(v->key[i]);
        gw_cache_sem_remove(v->key[i]);
    }
    sqlite3_finalize(del);
    return rc;
}

/* Makes room: the least recently used rows go while the tier is over cap. */
static int enforce_cap(sqlite3 *db, long long cap)
{
    long long entries = 0, bytes = 0;
    int rc = read_totals(db, &entries, &bytes);
    while (rc == SQLITE_OK && bytes > cap) {
        struct victims v;
        if ((rc = choose(db,
                         "SELECT id, key, bytes FROM cache_entries ORDER BY used_at, id "
                         "LIMIT ?2",
                         0, &v)) != SQLITE_OK ||
            v.n == 0)
            break;
        int n = 0;
        while (n < v.n && bytes > cap)
            bytes -= v.bytes[n++];
        rc = delete_victims(db, &v, n);
        atomic_fetch_add(&S.evictions_db, n);
    }
    return rc;
}

static int prune_expired(sqlite3 *db, long long now_ms)
{
    if (now_ms - S.pruned_ms < PRUNE_EVERY_MS)
        return SQLITE_OK;
    S.pruned_ms = now_ms;
    struct victims v;
    int rc;
    do {
        rc = choose(db, "SELECT id, key, bytes FROM cache_entries WHERE expires_at <= ?1 LIMIT ?2",
                    now_ms, &v);
        if (rc == SQLITE_OK)
            rc = delete_victims(db, &v, v.n);
        atomic_fetch_add(&S.expired_db, v.n);
    } while (rc == SQLITE_OK && v.n == EVICT_BATCH);
    return rc;
}

/* A store on its way to the writer: every string in one block after it. */
struct db_put {
    struct gw_write_async a; /* first: the writer hands this back */
    unsigned char key[GW_CACHE_KEY_LEN];
    const char *partition, *key_id, *team_id, *model, *provider, *upstream_model, *question,
        *request, *answer;
    long long created_ms, expires_ms, prompt_tokens, completion_tokens, bytes, db_max_bytes;
    double cost_usd;
    int has_vec;
    uint64_t sem_partition;
    const char *embedder;
    unsigned char *vec; /* gw_vec_pack's layout, vec_len bytes, in the block */
    size_t vec_len;
};

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* An upsert rather than INSERT OR REPLACE: REPLACE's implicit delete would
 * not fire the totals' delete trigger. */
static int store_fn(sqlite3 *db, void *arg)
{
    struct db_put *p = arg;
    sqlite3_stmt *st;
    int rc = prepare(
        db,
        "INSERT INTO cache_entries (key, partition, key_id, team_id, model, provider, "
        "upstream_model, question, request, answer, created_at, expires_at, used_at, bytes, "
        "prompt_tokens, completion_tokens, cost_usd, sem_partition, embedder, embedding) "
        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?11,?13,?14,?15,?16,?17,?18,?19) "
        "ON CONFLICT(key) DO UPDATE SET partition = excluded.partition, key_id = excluded.key_id, "
        "team_id = excluded.team_id, model = excluded.model, provider = excluded.provider, "
        "upstream_model = excluded.upstream_model, question = excluded.question, "
        "request = excluded.request, answer = excluded.answer, created_at = excluded.created_at, "
        "expires_at = excluded.expires_at, used_at = excluded.used_at, bytes = excluded.bytes, "
        "hits = 0, last_hit_at = NULL, prompt_tokens = excluded.prompt_tokens, "
        "completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd, "
        "sem_partition = excluded.sem_partition, embedder = excluded.embedder, "
        "embedding = excluded.embedding",
        &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_blob(st, 1, p->key, GW_CACHE_KEY_LEN, SQLITE_STATIC);
    bind_text(st, 2, p->partition);
    bind_text(st, 3, p->key_id);
    bind_text(st, 4, p->team_id);
    bind_text(st, 5, p->model);
    bind_text(st, 6, p->provider);
    bind_text(st, 7, p->upstream_model);
    bind_text(st, 8, p->question);
    bind_text(st, 9, p->request);
    bind_text(st, 10, p->answer);
    sqlite3_bind_int64(st, 11, p->created_ms);
    sqlite3_bind_int64(st, 12, p->expires_ms);
    sqlite3_bind_int64(st, 13, p->bytes);
    sqlite3_bind_int64(st, 14, p->prompt_tokens);
    sqlite3_bind_int64(st, 15, p->completion_tokens);
    sqlite3_bind_double(st, 16, p->cost_usd);
    if (p->has_vec) {
        sqlite3_bind_int64(st, 17, (sqlite3_int64)p->sem_partition);
        sqlite3_bind_text(st, 18, p->embedder, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 19, p->vec, (int)p->vec_len, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;
    if ((rc = enforce_cap(db, p->db_max_bytes)) == SQLITE_OK &&
        (rc = prune_expired(db, gw_wall_ms())) == SQLITE_OK)
        publish_totals(db);
    return rc;
}

static void free_async(struct gw_write_async *a)
{
    free(a);
}

static void db_store(const struct gw_cache_cfg *cfg, const struct gw_cache_put *p,
                     const char *answer_json)
{
    const struct gw_cache_answer *a = p->answer;
    size_t strings = slen(p->partition) + slen(p->key_id) + slen(p->team_id) + slen(p->model) +
                     slen(a->provider) + slen(a->model) + slen(p->question) +
                     slen(p->request ? p->request : "{}") + slen(answer_json);
    const char *embedder = p->embedder ? p->embedder : GW_EMBED_LOCAL_ID;
    int dim = p->embedder ? p->dim : GW_EMBED_LOCAL_DIM;
    size_t vec_len = p->embedding && dim > 0 ? (size_t)dim * 4 : 0;
    if (vec_len)
        strings += slen(embedder) + vec_len;
    struct db_put *d = malloc(sizeof *d + strings);
    if (!d)
        return;
    memset(d, 0, sizeof *d);
    char *at = (char *)(d + 1);
    d->a.fn = store_fn;
    d->a.release = free_async;
    memcpy(d->key, p->key, GW_CACHE_KEY_LEN);
    d->partition = place(&at, p->partition);
    d->key_id = place(&at, p->key_id);
    d->team_id = place(&at, p->team_id);
    d->model = place(&at, p->model);
    d->provider = place(&at, a->provider);
    d->upstream_model = place(&at, a->model);
    d->question = place(&at, p->question);
    d->request = place(&at, p->request ? p->request : "{}");
    d->answer = place(&at, answer_json);
    d->created_ms = p->created_ms;
    d->expires_ms = p->expires_ms;
    d->prompt_tokens = a->prompt_tokens;
    d->completion_tokens = a->completion_tokens;
    d->cost_usd = p->cost_usd;
    d->bytes = (long long)(strings + 128); /* a row's overhead, roughly */
    d->db_max_bytes = cfg->db_max_bytes;
    if (vec_len) {
        d->has_vec = 1;
        d->sem_partition = p->sem_partition;
        d->embedder = place(&at, embedder);
        d->vec = (unsigned char *)at;
        d->vec_len = vec_len;
        gw_vec_pack(p->embedding, dim, d->vec);
        d->bytes += (long long)vec_len;
    }
    gw_writer_post(&d->a);
}

void gw_cache_put(const struct gw_cache_cfg *cfg, const struct gw_cache_put *p)
{
    if (!S.ready)
        return;
    struct gw_buf json = {0};
    if (gw_cache_answer_json(p->answer, &json) != 0) {
        gw_buf_free(&json);
        return;
    }
    atomic_fetch_add(&S.stores, 1);
    /* the row's write is queued before the entry can be hit: a hit's count
     * (gw_cache_touch, queued after) then always finds the row */
    db_store(cfg, p, json.data);
    if (p->embedding && (!p->embedder || p->dim > 0)) /* before the hot entry: a match found
                                                        first just misses */
        gw_cache_sem_add_vec(p->key, p->embedder ? p->embedder : GW_EMBED_LOCAL_ID,
                             p->sem_partition, p->embedding,
                             p->embedder ? p->dim : GW_EMBED_LOCAL_DIM, p->question, p->expires_ms);
    struct hot *h = entry_new(p->key, p->partition, p->key_id, p->model, p->answer, p->created_ms,
                              p->expires_ms, p->cost_usd);
    if (h) {
        struct shard *sh = shard_of(p->key);
        struct hot *drop = NULL;
        pthread_mutex_lock(&sh->mu);
        table_put(cfg, sh, h, &drop);
        pthread_mutex_unlock(&sh->mu);
        release_list(drop);
    }
    gw_buf_free(&json);
}

struct db_touch {
    struct gw_write_async a;
    unsigned char key[GW_CACHE_KEY_LEN];
    long long at_ms;
};

static int touch_fn(sqlite3 *db, void *arg)
{
    struct db_touch *t = arg;
    sqlite3_stmt *st;
    int rc = prepare(db,
                     "UPDATE cache_entries SET hits = hits + 1, last_hit_at = ?2, used_at = ?2 "
                     "WHERE key = ?1",
                     &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_blob(st, 1, t->key, GW_CACHE_KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->at_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void gw_cache_touch(const unsigned char key[GW_CACHE_KEY_LEN], long long now_ms)
{
    struct db_touch *t = malloc(sizeof *t);
    if (!t)
        return;
    t->a.fn = touch_fn;
    t->a.release = free_async;
    memcpy(t->key, key, GW_CACHE_KEY_LEN);
    t->at_ms = now_ms;
    gw_writer_post(&t->a);
}

/* ---- set-up ---------------------------------------------------------------------------- */

int gw_cache_init(const struct gw_config *cfg, const char *db_path)
{
    pthread_mutex_lock(&S.init_mu);
    int rc = 0;
    if (!S.ready) {
        S.n_shards = cfg->cache.max_entries >= 1024 ? MAX_SHARDS : 1;
        S.shards = calloc(S.n_shards, sizeof *S.shards);
        for (unsigned i = 0; S.shards && i < S.n_shards; i++) {
            struct shard *sh = &S.shards[i];
            pthread_mutex_init(&sh->mu, NULL);
            sh->n_buckets = 64;
            if (!(sh->buckets = calloc(sh->n_buckets, sizeof *sh->buckets)))
                rc = -1;
        }
        if (!S.shards)
            rc = -1;
        S.ready = rc == 0;
    }
    if (S.ready && db_path && strcmp(db_path, S.db_path) != 0) {
        snprintf(S.db_path, sizeof S.db_path, "%s", db_path);
        atomic_fetch_add(&S.db_gen, 1);
        char err[512];
        sqlite3 *db = gw_db_open(db_path, GW_DB_READONLY, err, sizeof err);
        if (db) {
            publish_totals(db);
            long long t0 = gw_now_us();
            int n = gw_cache_sem_load(db, gw_wall_ms());
            if (n < 0)
                gw_warn("cache: reading the semantic index: %s", sqlite3_errmsg(db));
            else if (n > 0)
                gw_info("cache: %d semantic vectors loaded in %lld ms", n,
                        (gw_now_us() - t0) / 1000);
        }
        sqlite3_close(db);
    }
    pthread_mutex_unlock(&S.init_mu);
    return rc;
}

void gw_cache_shutdown(void)
{
    pthread_mutex_lock(&S.init_mu);
    for (unsigned i = 0; S.ready && i < S.n_shards; i++) {
        struct shard *sh = &S.shards[i];
        for (struct hot *h = sh->head; h;) {
            struct hot *next = h->next;
            hot_release(h);
            h = next;
        }
        for (size_t b = 0; b < FLIGHT_BUCKETS; b++)
            while (sh->flights[b]) {
                struct flight *f = sh->flights[b];
                sh->flights[b] = f->next;
                free(f);
            }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mu);
    }
    free(S.shards);
    S.shards = NULL;
    S.ready = 0;
    gw_cache_sem_clear();
    S.pruned_ms = 0; /* the writer is stopped too by now */
    S.db_path[0] = '\0';
    atomic_fetch_add(&S.db_gen, 1);
    atomic_store(&S.hot_entries, 0);
    atomic_store(&S.hot_bytes, 0);
    pthread_mutex_unlock(&S.init_mu);
}

/* ---- stats ---------------------------------------------------------------------------- */

void gw_cache_stats(struct gw_cache_stats *o)
{
    o->lookups = atomic_load(&S.lookups);
    o->hits_exact = atomic_load(&S.hits_exact);
    o->misses = atomic_load(&S.misses);
    o->waits = atomic_load(&S.waits);
    o->hits_semantic = atomic_load(&S.hits_semantic);
    o->semantic_rejected = atomic_load(&S.semantic_rejected);
    o->semantic_entries = (long long)gw_cache_sem_count();
    o->embed_errors = atomic_load(&S.embed_errors);
    o->stores = atomic_load(&S.stores);
    o->evictions_hot = atomic_load(&S.evictions_hot);
    o->evictions_db = atomic_load(&S.evictions_db);
    o->expired_hot = atomic_load(&S.expired_hot);
    o->expired_db = atomic_load(&S.expired_db);
    o->db_reads = atomic_load(&S.db_reads);
    o->tokens_saved = atomic_load(&S.tokens_saved);
    o->saved_usd = (double)atomic_load(&S.saved_nano_usd) / 1e9;
    o->hot_entries = atomic_load(&S.hot_entries);
    o->hot_bytes = atomic_load(&S.hot_bytes);
    o->db_entries = atomic_load(&S.db_entries);
    o->db_bytes = atomic_load(&S.db_bytes);
}

/* ---- inspection and purge ---------------------------------------------------------- */

/* " AND ..." for each filter field set; binds in order from ?1. */
static void filter_sql(const struct gw_cache_filter *f, struct gw_buf *sql)
{
    int i = 1;
    if (f && f->model)
        gw_buf_printf(sql, " AND model = ?%d", i++);
    if (f && f->key_id)
        gw_buf_printf(sql, " AND key_id = ?%d", i++);
    if (f && f->partition)
        gw_buf_printf(sql, " AND partition = ?%d", i++);
    if (f && f->older_than_ms > 0)
        gw_buf_printf(sql, " AND created_at < ?%d", i++);
}

static int filter_bind(const struct gw_cache_filter *f, sqlite3_stmt *st, long long now_ms)
{
    int i = 1;
    if (f && f->model)
        sqlite3_bind_text(st, i++, f->model, -1, SQLITE_STATIC);
    if (f && f->key_id)
        sqlite3_bind_text(st, i++, f->key_id, -1, SQLITE_STATIC);
    if (f && f->partition)
        sqlite3_bind_text(st, i++, f->partition, -1, SQLITE_STATIC);
    if (f && f->older_than_ms > 0)
        sqlite3_bind_int64(st, i++, now_ms - f->older_than_ms);
    return i;
}

static int matches(const struct hot *h, const struct gw_cache_filter *f, long long now_ms)
{
    if (!f)
        return 1;
    if (f->model && strcmp(f->model, h->e.model ? h->e.model : "") != 0)
        return 0;
    if (f->key_id && strcmp(f->key_id, h->key_id ? h->key_id : "") != 0)
        return 0;
    if (f->partition && strcmp(f->partition, h->e.partition ? h->e.partition : "") != 0)
        return 0;
    return f->older_than_ms <= 0 || h->e.created_ms < now_ms - f->older_than_ms;
}

struct purge {
    const struct gw_cache_filter *f;
    long long now_ms, deleted;
};

/* The vectors of the rows a purge deletes leave the semantic index. */
static int purge_vectors(sqlite3 *db, const struct purge *p)
{
    struct gw_buf sql = {0};
    gw_buf_puts(&sql, "SELECT key FROM cache_entries WHERE embedding IS NOT NULL");
    filter_sql(p->f, &sql);
    sqlite3_stmt *st;
    int rc = prepare(db, sql.data, &st);
    gw_buf_free(&sql);
    if (rc != SQLITE_OK)
        return rc;
    filter_bind(p->f, st, p->now_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 0) == GW_CACHE_KEY_LEN)
            gw_cache_sem_remove(sqlite3_column_blob(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int purge_fn(sqlite3 *db, void *arg)
{
    struct purge *p = arg;
    int rc = purge_vectors(db, p);
    if (rc != SQLITE_OK)
        return rc;
    struct gw_buf sql = {0};
    gw_buf_puts(&sql, "DELETE FROM cache_entries WHERE 1");
    filter_sql(p->f, &sql);
    sqlite3_stmt *st;
    rc = prepare(db, sql.data, &st);
    gw_buf_free(&sql);
    if (rc != SQLITE_OK)
        return rc;
    filter_bind(p->f, st, p->now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;
    p->deleted = sqlite3_changes(db);
    publish_totals(db);
    return SQLITE_OK;
}

long long gw_cache_purge(const struct gw_cache_filter *f)
{
    struct purge p = {.f = f, .now_ms = gw_wall_ms()};
    for (unsigned i = 0; S.ready && i < S.n_shards; i++) {
        struct shard *sh = &S.shards[i];
        struct hot *drop = NULL;
        pthread_mutex_lock(&sh->mu);
        for (struct hot *h = sh->head; h;) {
            struct hot *next = h->next;
            if (matches(h, f, p.now_ms))
                table_remove(sh, h, &drop);
            h = next;
        }
        pthread_mutex_unlock(&sh->mu);
        release_list(drop);
    }
    if (gw_writer_run(purge_fn, &p) != SQLITE_OK)
        return -1;
    return p.deleted;
}

static void put_text(struct gw_buf *out, const char *name, const char *v)
{
    gw_buf_printf(out, ",\"%s\":", name);
    if (v)
        gw_buf_json_str(out, v);
    else
        gw_buf_puts(out, "null");
}

#define ROW_COLUMNS                                                                                \
    "id, partition, key_id, model, provider, question, created_at, expires_at, hits, "             \
    "last_hit_at, bytes, prompt_tokens, completion_tokens, cost_usd"

/* One row of ROW_COLUMNS as the members of a JSON object (no braces). */
static void row_json(sqlite3_stmt *st, struct gw_buf *out)
{
    gw_buf_printf(out, "\"id\":%lld", (long long)sqlite3_column_int64(st, 0));
    put_text(out, "partition", col_text(st, 1));
    put_text(out, "key_id", col_text(st, 2));
    put_text(out, "model", col_text(st, 3));
    put_text(out, "provider", col_text(st, 4));
    put_text(out, "question", col_text(st, 5));
    gw_buf_printf(out, ",\"created_at\":%lld,\"expires_at\":%lld,\"hits\":%lld",
                  (long long)sqlite3_column_int64(st, 6), (long long)sqlite3_column_int64(st, 7),
                  (long long)sqlite3_column_int64(st, 8));
    if (sqlite3_column_type(st, 9) == SQLITE_NULL)
        gw_buf_puts(out, ",\"last_hit_at\":null");
    else
        gw_buf_printf(out, ",\"last_hit_at\":%lld", (long long)sqlite3_column_int64(st, 9));
    gw_buf_printf(out,
                  ",\"bytes\":%lld,\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                  "\"cost_usd\":%.9g",
                  (long long)sqlite3_column_int64(st, 10), (long long)sqlite3_column_int64(st, 11),
                  (long long)sqlite3_column_int64(st, 12), sqlite3_column_double(st, 13));
}

int gw_cache_list(sqlite3 *db, const struct gw_cache_filter *f, int limit, struct gw_buf *out)
{
    struct gw_buf sql = {0};
    gw_buf_puts(&sql, "SELECT " ROW_COLUMNS " FROM cache_entries WHERE 1");
    filter_sql(f, &sql);
    gw_buf_puts(&sql, " ORDER BY created_at DESC, id DESC LIMIT ?");
    sqlite3_stmt *st;
    int rc = prepare(db, sql.data, &st);
    gw_buf_free(&sql);
    if (rc != SQLITE_OK)
        return -1;
    int i = filter_bind(f, st, gw_wall_ms());
    sqlite3_bind_int(st, i, limit);
    int n = 0;
    gw_buf_puts(out, "{\"entries\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gw_buf_puts(out, n++ ? ",{" : "{");
        row_json(st, out);
        gw_buf_puts(out, "}");
    }
    gw_buf_puts(out, "]}");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int gw_cache_show(sqlite3 *db, long long id, struct gw_buf *out)
{
    sqlite3_stmt *st;
    if (prepare(db,
                "SELECT " ROW_COLUMNS ", key, request, answer FROM cache_entries "
                "WHERE id = ?",
                &st) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        gw_buf_puts(out, "{");
        row_json(st, out);
        gw_buf_puts(out, ",\"key\":\"");
        const unsigned char *k = sqlite3_column_blob(st, 14);
        for (int i = 0; k && i < sqlite3_column_bytes(st, 14); i++)
            gw_buf_printf(out, "%02x", k[i]);
        /* request and answer are JSON written by the gateway: embedded as is */
        gw_buf_puts(out, "\",\"request\":");
        gw_buf_puts(out, col_text(st, 15) ? col_text(st, 15) : "null");
        gw_buf_puts(out, ",\"answer\":");
        gw_buf_puts(out, col_text(st, 16) ? col_text(st, 16) : "null");
        gw_buf_puts(out, "}");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

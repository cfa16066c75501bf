/* The response cache's semantic tier (cache.h, docs/caching.md): the
 * question vectors of the cache's entries in an in-memory index
 * (semindex.h), with what a match needs to be checked and served: the
 * entry's key, its stored question and its expiry.
 *
 * DESIGN: an entry's id in the index is the first 8 bytes of its cache key
 * (BLAKE2b: two keys sharing them is a 2^-64 event, and then the newer one
 * replaces the older, which only loses a match). The side table from id to
 * key, question and expiry is a chained hash table under one mutex, held for
 * a table operation only. The index follows the SQLite tier, not the hot
 * one: an entry evicted from memory can still be matched and is read back
 * from SQLite; a row deleted from SQLite (cap, expiry, purge) leaves the
 * index through gw_cache_sem_remove. At start-up gw_cache_sem_load reads
 * every live vector back from SQLite.
 *
 * One semindex per embedder id and dimension (the local embedder's
 * "gw-local-1" at 256, "provider:MODEL" at whatever the model returns): a
 * vector is only ever compared with vectors of the same embedder, and a
 * model that changes its dimension gets an index of its own. An id lives
 * in one index at a time; stored again by another embedder, it moves. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "embed.h"
#include "log.h"
#include "semindex.h"

#define TABLE_MIN 1024

/* One embedder's vectors of one dimension. */
struct space {
    struct space *next;
    struct gw_semindex *ix;
    int dim;
    char embedder[]; /* NUL-terminated */
};

struct meta {
    struct meta *next;
    struct space *sp; /* the index its vector is in */
    int64_t id;
    unsigned char key[GW_CACHE_KEY_LEN];
    long long expires_ms;
    char question[]; /* NUL-terminated */
};

static struct {
    pthread_mutex_t mu;
    struct space *spaces; /* made at the first add of each; freed at clear */
    struct meta **table;
    size_t n_table, n;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

int64_t gw_cache_sem_id(const unsigned char key[GW_CACHE_KEY_LEN])
{
    int64_t id;
    memcpy(&id, key, sizeof id);
    return id;
}

static size_t slot(int64_t id, size_t n)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ULL) >> 20) & (n - 1);
}

/* The mutex held. */
static struct meta **find(int64_t id)
{
    if (!T.table)
        return NULL;
    struct meta **p = &T.table[slot(id, T.n_table)];
    while (*p && (*p)->id != id)
        p = &(*p)->next;
    return p;
}

/* The mutex held: embedder's index of dimension dim, made when create is
 * set; NULL when there is none (or out of memory). */
static struct space *space_of(const char *embedder, int dim, int create)
{
    for (struct space *sp = T.spaces; sp; sp = sp->next)
        if (sp->dim == dim && strcmp(sp->embedder, embedder) == 0)
            return sp;
    if (!create)
        return NULL;
    size_t n = strlen(embedder);
    struct space *sp = malloc(sizeof *sp + n + 1);
    if (!sp)
        return NULL;
    if (!(sp->ix = gw_semindex_new(dim))) {
        free(sp);
        return NULL;
    }
    sp->dim = dim;
    memcpy(sp->embedder, embedder, n + 1);
    sp->next = T.spaces;
    T.spaces = sp;
    return sp;
}

/* The mutex held; 0 or -1. */
static int ready(void)
{
    if (!T.table) {
        if (!(T.table = calloc(TABLE_MIN, sizeof *T.table)))
            return -1;
        T.n_table = TABLE_MIN;
    }
    if (T.n >= T.n_table) { /* grow: a load factor of at most 1 */
        size_t n = T.n_table * 2;
        struct meta **t = calloc(n, sizeof *t);
        if (!t)
            return 0; /* longer chains, still correct */
        for (size_t i = 0; i < T.n_table; i++)
            for (struct meta *m = T.table[i], *next; m; m = next) {
                next = m->next;
                m->next = t[slot(m->id, n)];
                t[slot(m->id, n)] = m;
            }
        free(T.table);
        T.table = t;
        T.n_table = n;
    }
    return 0;
}

void gw_cache_sem_add_vec(const unsigned char key[GW_CACHE_KEY_LEN], const char *embedder,
                          uint64_t partition, const float *v, int dim, const char *question,
                          long long expires_ms)
{
    size_t qn = strlen(question ? question : "");
    struct meta *m = malloc(sizeof *m + qn + 1);
    if (!m)
        return;
    m->id = gw_cache_sem_id(key);
    memcpy(m->key, key, GW_CACHE_KEY_LEN);
    m->expires_ms = expires_ms;
    memcpy(m->question, question ? question : "", qn + 1);
    pthread_mutex_lock(&T.mu);
    struct meta **p, *old = NULL;
    if (ready() != 0 || !(m->sp = space_of(embedder, dim, 1)) ||
        gw_semindex_add(m->sp->ix, partition, m->id, v) != 0) {
        pthread_mutex_unlock(&T.mu);
        free(m);
        return;
    }
    p = find(m->id);
    if (*p) { /* the same key stored again: the new question and expiry */
        old = *p;
        *p = old->next;
        T.n--;
        if (old->sp != m->sp) /* and maybe another embedder's vector */
            gw_semindex_remove(old->sp->ix, old->id);
    }
    m->next = T.table[slot(m->id, T.n_table)];
    T.table[slot(m->id, T.n_table)] = m;
    T.n++;
    pthread_mutex_unlock(&T.mu);
    free(old);
}

void gw_cache_sem_add(const unsigned char key[GW_CACHE_KEY_LEN], uint64_t partition, const float *v,
                      const char *question, long long expires_ms)
{
    gw_cache_sem_add_vec(key, GW_EMBED_LOCAL_ID, partition, v, GW_EMBED_LOCAL_DIM, question,
                         expires_ms);
}

void gw_cache_sem_remove(const unsigned char key[GW_CACHE_KEY_LEN])
{
    int64_t id = gw_cache_sem_id(key);
    pthread_mutex_lock(&T.mu);
    struct meta **p = find(id), *m = p ? *p : NULL;
    if (m) {
        *p = m->next;
        T.n--;
        gw_semindex_remove(m->sp->ix, id);
    }
    pthread_mutex_unlock(&T.mu);
    free(m);
}

void gw_cache_sem_clear(void)
{
    pthread_mutex_lock(&T.mu);
    for (size_t i = 0; T.table && i < T.n_table; i++)
        for (struct meta *m = T.table[i], *next; m; m = next) {
            next = m->next;
            free(m);
        }
    free(T.table);
    T.table = NULL;
    T.n_table = T.n = 0;
    for (struct space *sp = T.spaces, *next; sp; sp = next) {
        next = sp->next;
        gw_semindex_free(sp->ix);
        free(sp);
    }
    T.spaces = NULL;
    pthread_mutex_unlock(&T.mu);
}

size_t gw_cache_sem_count(void)
{
    pthread_mutex_lock(&T.mu);
    size_t n = T.n;
    pthread_mutex_unlock(&T.mu);
    return n;
}

/* The index is searched under the table's mutex so that an id it returns is
 * still in the table (semindex's own lock makes it safe without; this keeps
 * the pair consistent). Searches are short: an exact scan of one
 * partition, or the prefilter above GW_SEMINDEX_EXACT_MAX. */
int gw_cache_sem_search_vec(const char *embedder, uint64_t partition, const float *q, int dim,
                            float min_sim, long long now_ms, struct gw_arena *a,
                            struct gw_cache_sem_match *out, int k)
{
    struct gw_semhit hits[GW_CACHE_SEM_MAX];
    if (k > GW_CACHE_SEM_MAX)
        k = GW_CACHE_SEM_MAX;
    int n = 0;
    pthread_mutex_lock(&T.mu);
    struct space *sp = space_of(embedder, dim, 0);
    int found = sp ? gw_semindex_search(sp->ix, partition, q, min_sim, hits, k) : 0;
    for (int i = 0; i < found; i++) {
        struct meta **p = find(hits[i].id), *m = p ? *p : NULL;
        if (!m || m->sp != sp || m->expires_ms <= now_ms)
            continue; /* expired: SQLite's pruning takes it out of the index */
        out[n].sim = hits[i].sim;
        memcpy(out[n].key, m->key, GW_CACHE_KEY_LEN);
        out[n].question = gw_arena_strdup(a, m->question);
        if (out[n].question)
            n++;
    }
    pthread_mutex_unlock(&T.mu);
    return found < 0 ? -1 : n;
}

int gw_cache_sem_search(uint64_t partition, const float *q, float min_sim, long long now_ms,
                        struct gw_arena *a, struct gw_cache_sem_match *out, int k)
{
    return gw_cache_sem_search_vec(GW_EMBED_LOCAL_ID, partition, q, GW_EMBED_LOCAL_DIM, min_sim,
                                   now_ms, a, out, k);
}

int gw_cache_sem_load(sqlite3 *db, long long now_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT key, sem_partition, question, expires_at, embedding, embedder "
                           "FROM cache_entries WHERE embedder IS NOT NULL AND expires_at > ?1 "
                           "AND embedding IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    int n = 0, rc;
    float *v = NULL;
    int cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 4);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 4);
        const char *embedder = (const char *)sqlite3_column_text(st, 5);
        int dim = (int)(bytes / 4);
        if (!embedder || sqlite3_column_bytes(st, 0) != GW_CACHE_KEY_LEN || bytes % 4 || dim < 1 ||
            dim > GW_SEMINDEX_MAX_DIM ||
            (strcmp(embedder, GW_EMBED_LOCAL_ID) == 0 && dim != GW_EMBED_LOCAL_DIM))
            continue;
        if (dim > cap) {
            float *grown = realloc(v, (size_t)dim * sizeof *v);
            if (!grown)
                continue;
            v = grown;
            cap = dim;
        }
        if (gw_vec_unpack(blob, bytes, v, dim) != 0)
            continue;
        gw_cache_sem_add_vec(sqlite3_column_blob(st, 0), embedder,
                             (uint64_t)sqlite3_column_int64(st, 1), v, dim,
                             (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3));
        n++;
    }
    free(v);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

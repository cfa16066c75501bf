/* RAG collections in memory (rag.h). A snapshot owns one vector index
 * (dimension GW_EMBED_LOCAL_DIM) holding every chunk under its collection's
 * partition, the chunks' texts sorted by id (a hit's id is found by binary
 * search), and the collections' names with their chunk counts.
 *
 * DESIGN: gw_rag_reload builds a whole new snapshot from SQLite (reloads
 * are serialised by a mutex; the stored embedding is used as is when its
 * embedder is the current local one, else the chunk is embedded again) and
 * publishes it with gw_snap_publish, which frees the old one once no search
 * can see it. A search brackets its index lookup and its copies into the
 * caller's arena with gw_snap_enter / gw_snap_exit. Reloading costs one
 * pass over the table: fine for the tens of thousands of chunks an
 * appliance holds, and it keeps the request side free of locks of its own. */
#include "rag.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "db.h"
#include "embed.h"
#include "log.h"
#include "semindex.h"
#include "snapshot.h"

struct chunk {
    int64_t id;
    int seq;
    const char *source, *heading, *text;
};

struct coll {
    const char *name;
    uint64_t partition;
    long n;
};

struct rag_snap {
    struct gw_arena *arena; /* the strings and arrays below */
    struct gw_semindex *ix;
    struct chunk *chunks; /* by id */
    size_t n_chunks;
    struct coll *colls; /* by name */
    size_t n_colls;
};

static void snap_free(void *p);
static struct gw_snap snap = GW_SNAP_INITIALIZER(snap_free);
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

int gw_rag_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GW_RAG_MAX_NAME)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static uint64_t partition_of(const char *collection)
{
    const char *parts[] = {"rag", GW_EMBED_LOCAL_ID, collection};
    return gw_semindex_partition(parts, 3);
}

static void snap_free(void *p)
{
    struct rag_snap *s = p;
    if (!s)
        return;
    gw_semindex_free(s->ix);
    gw_arena_destroy(s->arena);
    free(s);
}

static int reload_locked(const char *db_path, char *err, size_t errlen)
{
    int rc = -1;
    sqlite3_stmt *st = NULL;
    float *v = malloc(GW_EMBED_LOCAL_DIM * sizeof *v);
    struct rag_snap *s = calloc(1, sizeof *s);
    sqlite3 *db = gw_db_open(db_path, GW_DB_READONLY, err, errlen);
    if (!db)
        goto out;
    if (!v || !s || !(s->arena = gw_arena_new(65536)) ||
        !(s->ix = gw_semindex_new(GW_EMBED_LOCAL_DIM))) {
        snprintf(err, errlen, "rag: out of memory");
        goto out;
    }
    long long n_rows = 0, n_colls = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT collection) FROM rag_chunks", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto dberr;
    n_rows = sqlite3_column_int64(st, 0);
    n_colls = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    s->chunks = gw_arena_calloc(s->arena, (size_t)(n_rows ? n_rows : 1) * sizeof *s->chunks);
    s->colls = gw_arena_calloc(s->arena, (size_t)(n_colls ? n_colls : 1) * sizeof *s->colls);
    if (!s->chunks || !s->colls) {
        snprintf(err, errlen, "rag: out of memory");
        goto out;
    }
    /* ORDER BY id: the chunks array is sorted for the binary search; the
     * collections are counted in a second, small pass below */
    if (sqlite3_prepare_v2(db,
                           "SELECT id, collection, source, seq, heading, text, embedder, dim, "
                           "embedding FROM rag_chunks ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    int step;
    long re_embedded = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && s->n_chunks < (size_t)n_rows) {
        const char *coll = (const char *)sqlite3_column_text(st, 1);
        const char *text = (const char *)sqlite3_column_text(st, 5);
        const char *heading = (const char *)sqlite3_column_text(st, 4);
        const char *embedder = (const char *)sqlite3_column_text(st, 6);
        if (!coll || !text)
            continue;
        struct chunk *c = &s->chunks[s->n_chunks];
        c->id = sqlite3_column_int64(st, 0);
        c->seq = sqlite3_column_int(st, 3);
        c->source = gw_arena_strdup(s->arena, (const char *)sqlite3_column_text(st, 2));
        c->heading = gw_arena_strdup(s->arena, heading ? heading : "");
        c->text = gw_arena_strdup(s->arena, text);
        if (!c->source || !c->heading || !c->text) {
            snprintf(err, errlen, "rag: out of memory");
            goto out;
        }
        int ok = embedder && strcmp(embedder, GW_EMBED_LOCAL_ID) == 0 &&
                 sqlite3_column_int(st, 7) == GW_EMBED_LOCAL_DIM &&
                 gw_vec_unpack(sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8), v,
                               GW_EMBED_LOCAL_DIM) == 0;
        if (!ok) {
            /* another embedder's vector: embed the stored text again */
            struct gw_buf b = {0};
            gw_buf_printf(&b, "%s\n%s", c->heading, c->text);
            ok = gw_embed_local(b.data ? b.data : "", b.len, v) == 0;
            gw_buf_free(&b);
            re_embedded++;
        }
        if (ok && gw_semindex_add(s->ix, partition_of(coll), c->id, v) != 0) {
            snprintf(err, errlen, "rag: out of memory");
            goto out;
        }
        s->n_chunks++;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT collection, count(*) FROM rag_chunks GROUP BY collection "
                           "ORDER BY collection",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && s->n_colls < (size_t)n_colls) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        struct coll *c = &s->colls[s->n_colls];
        if (!name || !(c->name = gw_arena_strdup(s->arena, name))) {
            snprintf(err, errlen, "rag: out of memory");
            goto out;
        }
        c->partition = partition_of(name);
        c->n = (long)sqlite3_column_int64(st, 1);
        s->n_colls++;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        goto dberr;
    if (re_embedded)
        gw_info("rag: %ld chunks embedded again (stored by another embedder)", re_embedded);
    gw_snap_publish(&snap, s);
    s = NULL;
    rc = 0;
    goto out;
dberr:
    snprintf(err, errlen, "loading RAG chunks: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    snap_free(s);
    free(v);
    return rc;
}

int gw_rag_reload(const char *db_path, char *err, size_t errlen)
{
    pthread_mutex_lock(&reload_mu);
    int rc = reload_locked(db_path, err, errlen);
    pthread_mutex_unlock(&reload_mu);
    return rc;
}

void gw_rag_shutdown(void)
{
    gw_snap_clear(&snap);
}

static const struct coll *find_coll(const struct rag_snap *s, const char *name)
{
    size_t lo = 0, hi = s->n_colls;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->colls[mid].name, name);
        if (c == 0)
            return &s->colls[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct chunk *find_chunk(const struct rag_snap *s, int64_t id)
{
    size_t lo = 0, hi = s->n_chunks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->chunks[mid].id == id)
            return &s->chunks[mid];
        if (s->chunks[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int gw_rag_search(const char *collection, const float *q, int k, float min_sim, struct gw_arena *a,
                  struct gw_rag_hit *hits)
{
    if (!collection || k < 1)
        return 0;
    unsigned tok;
    struct rag_snap *s = gw_snap_enter(&snap, &tok);
    const struct coll *c = s ? find_coll(s, collection) : NULL;
    int n = 0;
    if (c && c->n > 0) {
        struct gw_semhit h[256];
        n = gw_semindex_search(s->ix, c->partition, q, min_sim, h, k > 256 ? 256 : k);
        for (int i = 0; i < n; i++) {
            const struct chunk *ch = find_chunk(s, h[i].id);
            if (!ch) { /* cannot happen: the index and the array are built together */
                n = i;
                break;
            }
            hits[i] = (struct gw_rag_hit){.id = ch->id,
                                          .sim = h[i].sim,
                                          .seq = ch->seq,
                                          .source = gw_arena_strdup(a, ch->source),
                                          .heading = gw_arena_strdup(a, ch->heading),
                                          .text = gw_arena_strdup(a, ch->text)};
            if (!hits[i].source || !hits[i].heading || !hits[i].text) {
                n = -1;
                break;
            }
        }
    }
    gw_snap_exit(&snap, tok);
    return n;
}

long gw_rag_chunks(const char *collection)
{
    unsigned tok;
    struct rag_snap *s = gw_snap_enter(&snap, &tok);
    const struct coll *c = s ? find_coll(s, collection) : NULL;
    long n = c ? c->n : 0;
    gw_snap_exit(&snap, tok);
    return n;
}

void gw_rag_counts(long *collections, long *chunks)
{
    *collections = *chunks = 0;
    unsigned tok;
    struct rag_snap *s = gw_snap_enter(&snap, &tok);
    if (s) {
        *collections = (long)s->n_colls;
        *chunks = (long)s->n_chunks;
    }
    gw_snap_exit(&snap, tok);
}

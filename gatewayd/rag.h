/* RAG collections in memory (docs/rag.md): every stored chunk (schema
 * 010_rag.sql) with its text and embedding, one vector-index partition
 * (semindex.h) per collection, published as an immutable snapshot
 * (snapshot.h) that requests search without SQLite. Rebuilt from the
 * database at start-up and after every admin change (admin_rag.c). */
#ifndef GW_RAG_H
#define GW_RAG_H

#include <stddef.h>
#include <stdint.h>

struct gw_arena;

#define GW_RAG_MAX_NAME 64

/* A found chunk; the strings are copies in the arena given to the search. */
struct gw_rag_hit {
    int64_t id;
    float sim;
    int seq;
    const char *source, *heading, *text;
};

/* 1 when s is a valid collection name: 1 to 64 letters, digits, '_', '-' or
 * '.'. */
int gw_rag_name_valid(const char *s);

/* Reads every chunk from the database at db_path and publishes them.
 * Returns 0, or -1 with err set (the previous snapshot stays). */
int gw_rag_reload(const char *db_path, char *err, size_t errlen);
/* Frees the snapshot; no request may be running. */
void gw_rag_shutdown(void);

/* The up to k (1..256) chunks of collection most similar to q (local
 * embedding, GW_EMBED_LOCAL_DIM floats) with similarity >= min_sim, best
 * first, into hits (strings copied into a). Returns how many, 0 for an
 * unknown or empty collection, -1 when q is not a usable vector or memory
 * ran out. Any thread; lock-free but for the index's read lock. */
int gw_rag_search(const char *collection, const float *q, int k, float min_sim, struct gw_arena *a,
                  struct gw_rag_hit *hits);

/* Chunks held for collection (0: unknown or empty), and in all. */
long gw_rag_chunks(const char *collection);
void gw_rag_counts(long *collections, long *chunks);

#endif

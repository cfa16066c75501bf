/* The in-memory vector index of semantic matching (the cache's semantic
 * tier, later the firewall and RAG): entries (partition, id, vector), and a
 * search for the most similar vectors of one partition.
 *
 * Vectors of any dimension (the local embedder's 256, a provider's 768 to
 * 3072) are stored normalised, in float32, one index per dimension. Search
 * is exact below GW_SEMINDEX_EXACT_MAX entries in the partition; above it, a
 * SimHash prefilter (Charikar: the signs of GW_SEMINDEX_BITS random
 * hyperplanes, from a fixed seed per dimension) scans Hamming distances
 * with popcount, keeps the closest candidates and re-scores those exactly,
 * so a hit's similarity is always the exact cosine. The prefilter can miss
 * a neighbour the exact scan would find; tests/unit/test_semindex.c and
 * `make bench-semantic` measure how often (docs/semantic.md).
 *
 * Memory per entry: 4 * dim bytes of vector + 32 of signature + 8 of id in
 * its partition's arrays, plus about 40 in the id map: 1.1 KB at dim 256,
 * 6.2 KB at dim 1536, plus the arrays' growth slack (x2 below 4,096
 * entries, then x1.5): `make bench-semantic` measured 1,182 bytes per entry
 * at 100,000 entries of dim 256.
 *
 * Threads: a reader-writer lock (writers preferred). Any number of searches
 * run at once; add, remove and clear take the lock exclusively for the
 * time of an array append or a swap-remove. */
#ifndef GW_SEMINDEX_H
#define GW_SEMINDEX_H

#include <stddef.h>
#include <stdint.h>

#define GW_SEMINDEX_BITS      256 /* signature bits per entry */
#define GW_SEMINDEX_EXACT_MAX 512 /* partitions up to this size are scanned exactly */
#define GW_SEMINDEX_MAX_DIM   8192

struct gw_semindex;

struct gw_semhit {
    int64_t id;
    float sim; /* cosine similarity, exact */
};

/* An empty index for vectors of dim floats (1..GW_SEMINDEX_MAX_DIM). NULL
 * when out of memory or dim is out of range. */
struct gw_semindex *gw_semindex_new(int dim);
void gw_semindex_free(struct gw_semindex *ix);
int gw_semindex_dim(const struct gw_semindex *ix);

/* The partition of an entry: a 64-bit hash of n strings (NULL counts as
 * ""), e.g. {embedder, model, system prompt, tenant}. Entries of different
 * partitions never match. */
uint64_t gw_semindex_partition(const char *const *parts, size_t n);

/* Candidates re-scored per search when the prefilter runs (default 128;
 * clamped to 16..4096). More is slower and finds more. */
void gw_semindex_set_candidates(struct gw_semindex *ix, int n);

/* Adds a copy of v[0..dim) (normalised in the copy) under id, replacing an
 * entry with the same id (in whatever partition). Returns 0, or -1 when out
 * of memory or v is zero or not finite (nothing changed). */
int gw_semindex_add(struct gw_semindex *ix, uint64_t partition, int64_t id, const float *v);

/* Removes the entry with this id: 1 when there was one, else 0. */
int gw_semindex_remove(struct gw_semindex *ix, int64_t id);

/* Removes every entry of a partition (or of all); returns how many. */
size_t gw_semindex_clear_partition(struct gw_semindex *ix, uint64_t partition);
size_t gw_semindex_clear(struct gw_semindex *ix);

size_t gw_semindex_count(struct gw_semindex *ix);
size_t gw_semindex_partition_count(struct gw_semindex *ix, uint64_t partition);
/* Bytes held (vectors, signatures, ids, tables, hyperplanes). */
size_t gw_semindex_memory(struct gw_semindex *ix);

/* The up to k entries of the partition most similar to q[0..dim) (need not
 * be normalised) with similarity >= min_sim, best first, into hits[0..k).
 * Returns how many (0 when none), or -1 when q is zero or not finite or k
 * is out of 1..256. */
int gw_semindex_search(struct gw_semindex *ix, uint64_t partition, const float *q, float min_sim,
                       struct gw_semhit *hits, int k);

/* The same by brute force over the whole partition (tests, benchmarks). */
int gw_semindex_search_exact(struct gw_semindex *ix, uint64_t partition, const float *q,
                             float min_sim, struct gw_semhit *hits, int k);

#endif

/* Text embeddings for the semantic cache (and later the firewall and RAG):
 * the built-in `local` embedder, and helpers for any embedding vector (a
 * provider's dense vector of any dimension): dot product, normalisation,
 * cosine, and a fixed byte layout for storing vectors in SQLite.
 *
 * The local embedder is a hashed word and character n-gram embedder over the
 * words textnorm.h keeps: it catches near-duplicates (case, punctuation,
 * contractions, filler words, word order, plurals, a short synonym list) and
 * is NOT semantic: "capital of France" and "capital of Germany" score close.
 * A vector match must pass gw_simcheck (simcheck.h) before it is served. See
 * docs/semantic.md for what it catches and misses, with numbers.
 *
 * No state, no seed: every function is reentrant, and the same text gives
 * the same vector on every run (across machines, up to the last bit of
 * float rounding; GW_EMBED_LOCAL_ID changes with the algorithm). */
#ifndef GW_EMBED_H
#define GW_EMBED_H

#include <stddef.h>

/* Dimension of the local embedder's vectors. */
#define GW_EMBED_LOCAL_DIM 256

/* The local embedder's identity: stored with its vectors so that a change
 * of the algorithm (a new id) never compares old vectors with new ones. */
#define GW_EMBED_LOCAL_ID "gw-local-1"

/* Default cosine similarity a local-embedder match needs before the
 * verification step runs, chosen with `make bench-semantic` on
 * tests/cache_eval/pairs.tsv (docs/semantic.md has the table). */
#define GW_EMBED_LOCAL_DEFAULT_THRESHOLD 0.80

/* A vector owned by whoever made it (v points to dim floats). */
struct gw_vec {
    int dim;
    float *v;
};

/* Embeds text[0..len) (any bytes) into out[GW_EMBED_LOCAL_DIM], L2-normalised.
 * Returns 0; 1 when the text has no words (out is all zeros: skip semantic
 * matching for it); -1 when memory runs out. */
int gw_embed_local(const char *text, size_t len, float *out);

/* Dot product of a[0..dim) and b[0..dim). */
float gw_vec_dot(const float *a, const float *b, int dim);

/* Scales v to unit length. Returns 0, or -1 (v unchanged) when v is zero
 * or holds a NaN or an infinity. */
int gw_vec_normalize(struct gw_vec *v);

/* Cosine similarity in [-1, 1]; 0 when the dimensions differ or either
 * vector is zero or not finite. */
float gw_vec_cosine(const struct gw_vec *a, const struct gw_vec *b);

/* Storage layout: dim float32 values, little-endian, 4 * dim bytes.
 * gw_vec_pack writes them to out (4 * dim bytes); gw_vec_unpack reads a blob
 * of exactly 4 * dim bytes into out and returns 0, or -1 when the size is
 * wrong or a value is not finite. */
void gw_vec_pack(const float *v, int dim, void *out);
int gw_vec_unpack(const void *blob, size_t n, float *out, int dim);

#endif

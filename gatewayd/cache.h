/* The response cache (docs/caching.md): complete answers kept in a neutral
 * form and replayed, whole or streamed, into either front door.
 *
 * An entry is found by its key, the BLAKE2b-256 of the tenant partition,
 * the model name the client asked for and the canonical form of everything
 * in the request that changes the answer (cache_key.c). Entries live in two
 * tiers: a hot in-memory LRU bounded by cache.max_entries and
 * cache.max_bytes, in front of the SQLite table cache_entries (schema 007)
 * bounded by cache.db_max_bytes; both honour the entry's expiry. A hit in
 * SQLite is promoted to the hot tier; a hot hit touches no SQLite. Stores,
 * hit counts and evictions in SQLite go through the writer thread
 * (writer.h), never the request path.
 *
 * Single flight: a request that misses and will store its answer leads a
 * flight for its key; identical requests arriving meanwhile join it as
 * waiters and are answered from the leader's answer (or sent on to the
 * upstream themselves when it is not cacheable) by the pipeline stage
 * (stages/cache.c), which owns the request side: headers, replay, waking.
 *
 * Pieces: cache.c (the tiers, the flight table, stats, inspection and
 * purge), cache_key.c (canonical request, key, question), cache_capture.c
 * (the answer the client got -> neutral form), cache_replay.c (neutral form
 * -> the caller's wire format), cache_semantic.c (the semantic tier's index
 * of question vectors), stages/cache.c (the stage).
 *
 * Threads: every function here may be called from any thread unless it
 * says otherwise; the store takes short per-shard locks only. */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct gw_arena;
struct gw_cache_cfg;
struct gw_config;
struct gw_request;

#define GW_CACHE_KEY_LEN 32

/* ---- the neutral answer ------------------------------------------------- */

struct gw_cache_tool {
    const char *id, *name;
    const char *args; /* the argument JSON, as text */
};

/* One complete assistant answer, whichever format it came in. The strings
 * belong to whoever made the struct (an arena, or a cache entry). */
struct gw_cache_answer {
    const char *content; /* the text ("" when there is none) */
    size_t content_len;
    struct gw_cache_tool *tools;
    size_t n_tools;
    const char *finish; /* OpenAI's finish_reason: stop, length, tool_calls */
    long long prompt_tokens, completion_tokens; /* what the answer cost upstream */
    const char *model, *provider; /* who made it (upstream model, provider name); may be NULL */
};

/* Appends a as its JSON object (the form kept in SQLite). */
int gw_cache_answer_json(const struct gw_cache_answer *a, struct gw_buf *out);
/* Reads the JSON object back; strings in arena a. 0, or -1 when it is not
 * one. */
int gw_cache_answer_parse(const char *json, size_t n, struct gw_arena *a,
                          struct gw_cache_answer *out);

/* ---- cache_key.c: what identifies an answer ---------------------------- */

/* Whether the neutral form can carry the answer to r (a chat or messages
 * request; not n > 1, logprobs, audio, web search, or an Anthropic-only
 * feature). If not, *why says which. */
int gw_cache_request_cacheable(const struct gw_request *r, const char **why);
/* The canonical text of a chat-completions request: object members sorted,
 * numbers normalised, members that do not change the answer left out
 * (model, stream, stream_options, user, metadata, store, service_tier,
 * n: 1, nulls), max_completion_tokens spelled max_tokens, a content of one
 * text part written as a string. Appends to out; 0 or -1 (out of memory). */
int gw_cache_canonical(const cJSON *req, struct gw_buf *out);
/* The key: BLAKE2b-256 over partition, model, extra (may be NULL) and the
 * canonical text, each length-prefixed. */
void gw_cache_key(const char *partition, const char *model, const char *extra, const char *canon,
                  size_t canon_len, unsigned char key[GW_CACHE_KEY_LEN]);
/* The text of the last user message (its text parts joined by spaces), in
 * arena a; "" when there is none. */
const char *gw_cache_question(const cJSON *req, struct gw_arena *a);

/* ---- cache_capture.c: the answer as the client got it -> neutral ------- */

struct gw_cache_capture;

/* A parser of one answer in the caller's wire format: anthropic selects
 * Anthropic's Messages format (else OpenAI's chat completions), sse a
 * stream of events (else one JSON object). NULL when out of memory. */
struct gw_cache_capture *gw_cache_capture_new(int anthropic, int sse);
/* The next bytes, in any chunking. 0, or -1 once the answer cannot be kept
 * (gw_cache_capture_end says why). */
int gw_cache_capture_feed(struct gw_cache_capture *c, const char *p, size_t n);
/* The answer, if it is complete and cacheable (a 2xx chat answer with one
 * choice, ended normally; not an error, a refusal or a truncated stream):
 * 0 with *out filled (strings in arena a), else -1 with *why. */
int gw_cache_capture_end(struct gw_cache_capture *c, struct gw_arena *a,
                         struct gw_cache_answer *out, const char **why);
void gw_cache_capture_free(struct gw_cache_capture *c);

/* ---- cache_replay.c: neutral -> the caller's format -------------------- */

/* Appends a to out as r's front door answers (r->api: OpenAI's
 * chat.completion or chunks, Anthropic's message or events; r->stream), with
 * a's token counts as its usage. r's token counts are left as they were.
 * Call it on the thread that owns r. 0, or -1 (out of memory). */
int gw_cache_replay(struct gw_request *r, const struct gw_cache_answer *a, struct gw_buf *out);

/* ---- cache.c: the two tiers and the flights ----------------------------- */

/* A cached answer: immutable once made, shared by reference. */
struct gw_cache_entry {
    unsigned char key[GW_CACHE_KEY_LEN];
    long long created_ms, expires_ms; /* unix milliseconds */
    double cost_usd;                  /* what it cost when it was made */
    size_t bytes;                     /* counted against cache.max_bytes */
    const char *partition, *model;    /* model: the name the client asked for */
    struct gw_cache_answer answer;
};

/* Creates the store (idempotent; the first config decides the hot tier's
 * sharding) and reads the SQLite tier's totals from db_path. 0 or -1. */
int gw_cache_init(const struct gw_config *cfg, const char *db_path);
/* Frees the hot tier and the flights (at exit; no request may be running). */
void gw_cache_shutdown(void);

/* A follower of a single flight. The caller owns the memory and keeps it
 * alive until it is detached (gw_cache_flight_end hands it back, or
 * gw_cache_flight_leave takes it out). */
struct gw_cache_waiter {
    struct gw_cache_waiter *next;
    struct gw_request *r;
    atomic_int attached; /* in a flight's list (written under the store's lock) */
};

enum gw_cache_found {
    GW_CACHE_HIT,  /* *hit is the entry (a reference: gw_cache_entry_release) */
    GW_CACHE_WAIT, /* w joined the flight in progress for the key */
    GW_CACHE_LEAD, /* no entry, no flight: the caller leads a new flight */
    GW_CACHE_MISS, /* no entry (and nothing to join or lead) */
};

/* Looks key up when lookup is set: the hot tier, a flight in progress (w
 * joins it, if w is given), then SQLite (a hit there is promoted). An entry
 * past its expiry is a miss. With lead set, a miss that finds no flight
 * starts one led by the caller, who must end it (gw_cache_flight_end).
 * cfg bounds the hot tier when an entry is promoted. */
enum gw_cache_found gw_cache_find(const struct gw_cache_cfg *cfg,
                                  const unsigned char key[GW_CACHE_KEY_LEN], long long now_ms,
                                  int lookup, int lead, struct gw_cache_waiter *w,
                                  const struct gw_cache_entry **hit);
void gw_cache_entry_release(const struct gw_cache_entry *e);
/* A hit was served from key's entry: its hit count and last use in SQLite
 * (async). */
void gw_cache_touch(const unsigned char key[GW_CACHE_KEY_LEN], long long now_ms);

/* Ends the flight for key (its leader's request is over): returns its
 * waiters, detached, in arrival order. */
struct gw_cache_waiter *gw_cache_flight_end(const unsigned char key[GW_CACHE_KEY_LEN]);
/* Takes w out of its flight: 1 when it was still attached (the caller now
 * owns its outcome), 0 when the flight has already ended. */
int gw_cache_flight_leave(const unsigned char key[GW_CACHE_KEY_LEN], struct gw_cache_waiter *w);

/* What a store needs; the strings are copied. */
struct gw_cache_put {
    unsigned char key[GW_CACHE_KEY_LEN];
    const char *partition, *key_id, *team_id; /* key_id, team_id: the request's; may be NULL */
    const char *model;                        /* the name the client asked for */
    const char *question, *request;           /* for the semantic index and `cache show` */
    const float *embedding;                   /* the question's vector; NULL: none */
    uint64_t sem_partition;                   /* the semantic tier's partition (with embedding) */
    const char *embedder; /* the vector's embedder id ("provider:MODEL"); NULL: the local one */
    int dim;              /* its dimension (with embedder; else GW_EMBED_LOCAL_DIM) */
    const struct gw_cache_answer *answer;
    long long created_ms, expires_ms;
    double cost_usd;
};

/* Stores an answer: into the hot tier at once (making room by evicting the
 * least recently used, within cfg's bounds; an entry larger than the hot
 * tier's share is not held in memory) and into SQLite through the writer
 * (then cfg->db_max_bytes is enforced there). */
void gw_cache_put(const struct gw_cache_cfg *cfg, const struct gw_cache_put *p);

/* The live entry for key (hot tier, else SQLite, promoted), counted in no
 * stat: for a semantic match. NULL when there is none. A reference:
 * gw_cache_entry_release. */
const struct gw_cache_entry *gw_cache_get(const struct gw_cache_cfg *cfg,
                                          const unsigned char key[GW_CACHE_KEY_LEN],
                                          long long now_ms);

/* ---- cache_semantic.c: the semantic tier's index ------------------------ */

#define GW_CACHE_SEM_MAX 8 /* candidates verified per lookup, at most */

/* A vector match: the entry's key, its similarity and its stored question
 * (in the caller's arena). */
struct gw_cache_sem_match {
    unsigned char key[GW_CACHE_KEY_LEN];
    float sim;
    const char *question;
};

/* An entry's id in the index (the first 8 bytes of its key). */
int64_t gw_cache_sem_id(const unsigned char key[GW_CACHE_KEY_LEN]);
/* Indexes key's question vector v (GW_EMBED_LOCAL_DIM floats) in partition,
 * replacing what key had; question is copied. */
void gw_cache_sem_add(const unsigned char key[GW_CACHE_KEY_LEN], uint64_t partition, const float *v,
                      const char *question, long long expires_ms);
/* The same for a vector of dim floats made by embedder (an id:
 * GW_EMBED_LOCAL_ID, or "provider:MODEL"): each embedder and dimension has
 * an index of its own, so vectors of different embedders never meet. */
void gw_cache_sem_add_vec(const unsigned char key[GW_CACHE_KEY_LEN], const char *embedder,
                          uint64_t partition, const float *v, int dim, const char *question,
                          long long expires_ms);
/* Takes key's vector out (its row left SQLite). */
void gw_cache_sem_remove(const unsigned char key[GW_CACHE_KEY_LEN]);
/* Empties the index (at shutdown). */
void gw_cache_sem_clear(void);
size_t gw_cache_sem_count(void);
/* The up to k (<= GW_CACHE_SEM_MAX) live entries of partition most similar
 * to q with similarity >= min_sim, best first, into out; questions in a.
 * Returns how many, or -1 when q is zero. */
int gw_cache_sem_search(uint64_t partition, const float *q, float min_sim, long long now_ms,
                        struct gw_arena *a, struct gw_cache_sem_match *out, int k);
/* The same in embedder's index of dimension dim (none: 0 matches). */
int gw_cache_sem_search_vec(const char *embedder, uint64_t partition, const float *q, int dim,
                            float min_sim, long long now_ms, struct gw_arena *a,
                            struct gw_cache_sem_match *out, int k);
/* Indexes every live vector stored in db, of every embedder (start-up).
 * Returns how many, or -1 on a database error. */
int gw_cache_sem_load(sqlite3 *db, long long now_ms);

/* ---- stats, inspection, purge ------------------------------------------- */

struct gw_cache_stats {
    long long lookups, hits_exact, misses, waits; /* waits: joined a flight */
    long long hits_semantic;                      /* answered from a similar question's entry */
    long long semantic_rejected; /* vector matches the verification step turned down */
    long long semantic_entries;  /* vectors in the semantic index */
    long long embed_errors;      /* provider embeddings that failed: a semantic miss */
    long long stores, evictions_hot, evictions_db;
    long long expired_hot, expired_db; /* dropped at their expiry, per tier */
    long long db_reads;                /* SQLite lookups (hot misses) */
    long long tokens_saved; /* prompt + completion tokens of the answers served from the cache */
    double saved_usd;
    long long hot_entries, hot_bytes, db_entries, db_bytes;
};

void gw_cache_stats(struct gw_cache_stats *out);
/* An answer served from the cache (a hit, or a waiter answered by its
 * leader): counted as an exact hit, with what it saved. */
void gw_cache_count_served(int waited, long long tokens, double usd);
/* A waiter sent on to the upstream (its leader's answer was not cached). */
void gw_cache_count_unserved(void);
/* A lookup that missed the exact tier was answered by the semantic one
 * (hit), or a vector match was rejected by verification (rejected: n). */
void gw_cache_count_semantic(int hit, int rejected);
/* The provider embedder failed for a request (it went on as a semantic
 * miss). */
void gw_cache_count_embed_error(void);

/* Which entries an inspection or a purge concerns: every field set must
 * match (NULL / 0: any). */
struct gw_cache_filter {
    const char *model;       /* the name the client asked for */
    const char *key_id;      /* the key whose request made it */
    const char *partition;   /* "team:ID", "key:ID", "*" */
    long long older_than_ms; /* created before now - older_than_ms */
};

/* Deletes the matching entries from both tiers (through the writer; waits
 * for the commit). Returns how many rows were deleted, or -1. */
long long gw_cache_purge(const struct gw_cache_filter *f);
/* Appends {"entries":[{id, partition, key_id, model, provider, question,
 * created_at, expires_at, hits, last_hit_at, bytes, prompt_tokens,
 * completion_tokens, cost_usd}, ...]} newest first, at most limit, read on
 * db. Returns how many, or -1 on a database error. */
int gw_cache_list(sqlite3 *db, const struct gw_cache_filter *f, int limit, struct gw_buf *out);
/* Appends one entry (as in the list, plus key (hex), request and answer as
 * JSON values): 1 when found, 0 when not, -1 on a database error. */
int gw_cache_show(sqlite3 *db, long long id, struct gw_buf *out);

/* ---- stages/cache.c ----------------------------------------------------- */

/* At the end of r (its last release, before its usage row): stores r's
 * answer when it is complete and cacheable, and answers the waiters of the
 * flight r led (or sends them on). */
void gw_cache_request_end(struct gw_request *r);

#endif

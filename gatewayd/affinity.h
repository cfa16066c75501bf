/* Prefix-cache affinity (docs/routing.md#prefix-cache-affinity): a request's
 * stable prefix is fingerprinted, and the deployment and key that last
 * served a request with the same fingerprint are remembered until the
 * provider's prompt cache has gone cold, so follow-ups go where their prefix
 * is warm.
 *
 * The fingerprint is a hash of the model name asked for, the tools, and the
 * messages up to and including the first user message (the system prompt
 * and the opening question): every later turn of a conversation repeats
 * them unchanged, so every turn has the fingerprint of the first.
 *
 * The table is bounded and shared by the HTTP threads without a lock
 * (a seqlock per slot); it is shared by successive configs with the same
 * max_entries, so a reload keeps what it knows. */
#ifndef GW_AFFINITY_H
#define GW_AFFINITY_H

#include <stdint.h>

struct cJSON;
struct gw_affinity;

/* The table for max_entries entries: the current one when its size fits,
 * else a new one (which becomes the current one). Refcounted: each acquire
 * is paired with a release. NULL when out of memory. */
struct gw_affinity *gw_affinity_acquire(int max_entries);
void gw_affinity_release(struct gw_affinity *a);

/* The fingerprint of a chat request (json in the chat-completions form)
 * for the model name asked for; never 0. 0 when json has no messages. */
unsigned long long gw_affinity_fingerprint(const char *model, const struct cJSON *json);

/* What fp was last served by, if that is still warm at now_us: 1 with *dep
 * and *key (opaque, long-lived pointers: a deployment and a key state, key
 * may be 0), else 0. */
int gw_affinity_lookup(struct gw_affinity *a, unsigned long long fp, long long now_us,
                       uintptr_t *dep, uintptr_t *key);
/* fp was served by (dep, key); warm until until_us. Never blocks: a slot
 * another thread is writing is left alone. */
void gw_affinity_record(struct gw_affinity *a, unsigned long long fp, uintptr_t dep, uintptr_t key,
                        long long until_us);
/* Entries still warm at now_us, and the table's capacity. */
long gw_affinity_entries(struct gw_affinity *a, long long now_us, long *capacity);

/* The same for the table of the latest config that has one (0 and a
 * capacity of 0 when there is none). */
long gw_affinity_current_entries(long long now_us, long *capacity);

/* Process-wide counts for /metrics and status: lookups made (a model with a
 * choice to make), and those that found a warm, healthy target. */
void gw_affinity_count(int hit);
void gw_affinity_totals(long long *lookups, long long *hits);

#endif

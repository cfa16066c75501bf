/* Provider key pools (docs/routing.md#provider-key-pools): the live state of
 * every API key a provider is configured with — requests in flight, requests
 * and tokens over the last minute, and a cooldown after a 429 — and the
 * choice of the key an upstream call sends: the one with the most capacity
 * left that is not cooling down.
 *
 * The state of a key lives for the process, found by (provider name, key
 * reference, a hash of the secret), so a reload keeps its counts and its
 * cooldown; a changed secret behind the same reference is a new key. The
 * request path reads and writes only atomics: no lock, no allocation. */
#ifndef GW_KEYPOOL_H
#define GW_KEYPOOL_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "minute_window.h"

/* The window the per-key rates are counted over, in one-second slots. */
#define GW_KEY_WINDOW_S GW_MINUTE_WINDOW_S

struct gw_pool_key {
    char *provider, *label;     /* identity (owned); label: the reference, never the secret */
    unsigned long long fp;      /* a hash of the secret */
    atomic_long in_flight;      /* calls under way with this key */
    atomic_llong cool_until_us; /* monotonic time before which it is not used (0: never) */
    atomic_llong requests;      /* calls made with it (counted when they end) */
    atomic_llong cooldowns;     /* times a 429 put it to rest */
    struct gw_minute_window req_win, tok_win; /* requests and tokens, last minute */
    struct gw_pool_key *next;                 /* in the registry */
};

/* One provider's keys under one config: keys[i] is the state of
 * cfg->keys[i]. Built when a config is installed. */
struct gw_keypool {
    const struct gw_provider_cfg *cfg;
    size_t n;
    struct gw_pool_key **keys;
    int counts_tokens; /* some key has a tpm: charge requests their tokens */
};

/* The state of a key, created on first sight (NULL when out of memory);
 * lives as long as the process. */
struct gw_pool_key *gw_pool_key_get(const char *provider, const char *label, const char *secret);
/* The same without creating it (NULL if never seen). */
struct gw_pool_key *gw_pool_key_find(const char *provider, const char *label, const char *secret);

/* The pools of every provider of cfg (cfg->n_providers of them, a provider
 * without keys has n 0): malloc'd, freed with gw_keypools_free. NULL when
 * out of memory. */
struct gw_keypool *gw_keypools_build(const struct gw_config *cfg);
void gw_keypools_free(struct gw_keypool *pools, size_t n);

/* The key a call should use at now_us: among those not cooling down, the
 * one with the largest share of its rpm/tpm left over the last minute
 * (a key without limits counts as having all of it); ties are broken at
 * random in proportion to weight, u in [0, 1) being the draw. When every key
 * cools, the one back soonest. -1 only for an empty pool. */
int gw_keypool_choose(const struct gw_keypool *p, long long now_us, double u);
/* Whether the pool is unavailable at at_us: it has two or more keys and all
 * cool down then; *back_us gets when the first of them is back. A pool of
 * one never rests (its 429s are the breaker's and the retries' business). */
int gw_keypool_resting(const struct gw_keypool *p, long long at_us, long long *back_us);
/* Whether k rests (after a 429) at at_us. */
int gw_pool_key_resting(const struct gw_pool_key *k, long long at_us);
/* The index of k in p, or -1. */
int gw_keypool_index(const struct gw_keypool *p, const struct gw_pool_key *k);

/* A call starts with k: one more in flight, one request and `tokens` tokens
 * in the window. */
void gw_pool_key_start(struct gw_pool_key *k, long long tokens, long long now_us);
/* It ended: one fewer in flight; the tokens charged at started_us are
 * corrected from `charged` to `used`, and sent 0 (the gateway never made the
 * call) takes the request back out, both in the slot the charge went to
 * (once that second has left the window, there is nothing to correct). */
void gw_pool_key_end(struct gw_pool_key *k, long long charged, long long used, int sent,
                     long long started_us);
/* A 429 on k: it rests until now + retry_after_ms (p->key_cooldown_s when
 * -1), at most p->key_cooldown_max_s, and at least one second. Returns when
 * it is back. A cooldown already longer is kept. */
long long gw_pool_key_cool(struct gw_pool_key *k, const struct gw_provider_cfg *p,
                           long long retry_after_ms, long long now_us);
/* Requests (tokens 0) or tokens (tokens 1) counted in the last minute. */
long long gw_pool_key_used(const struct gw_pool_key *k, int tokens, long long now_us);
/* The share of its limits k has left (1: all, or no limits; below 0: over). */
double gw_pool_key_headroom(const struct gw_api_key_cfg *kc, const struct gw_pool_key *k,
                            long long now_us);

/* Calls fn for every key of every provider of cfg, in config order, with
 * its live state (NULL if never seen, e.g. a config being checked). */
void gw_keypool_each(const struct gw_config *cfg,
                     void (*fn)(const struct gw_provider_cfg *p, const struct gw_api_key_cfg *kc,
                                struct gw_pool_key *k, void *arg),
                     void *arg);

#endif

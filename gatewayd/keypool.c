/* Provider key pools: the process-lifetime registry of API-key states, the
 * per-config pools, the choice of a key, the per-minute windows and the
 * cooldowns (keypool.h).
 *
 * DESIGN: the registry is a linked list under one mutex, touched when a
 * config is installed (gw_keypools_build) and by status and metrics; its
 * entries are never freed, so requests hold plain pointers. The rates over
 * the last minute are two lock-free windows of one-second slots per key
 * (minute_window.h). A cooldown is one atomic
 * deadline, only ever pushed later. */
#include "keypool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw_pool_key *registry;

/* ---- registry ----------------------------------------------------------- */

/* FNV-1a, 64 bits: tells one secret from another, and is all that is kept
 * of it here. */
static unsigned long long secret_fp(const char *s)
{
    unsigned long long h = 14695981039346656037ULL;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct gw_pool_key *find_locked(const char *provider, const char *label,
                                       unsigned long long fp)
{
    for (struct gw_pool_key *k = registry; k; k = k->next)
        if (k->fp == fp && strcmp(k->provider, provider) == 0 && strcmp(k->label, label) == 0)
            return k;
    return NULL;
}

struct gw_pool_key *gw_pool_key_find(const char *provider, const char *label, const char *secret)
{
    pthread_mutex_lock(&registry_mu);
    struct gw_pool_key *k = find_locked(provider, label, secret_fp(secret));
    pthread_mutex_unlock(&registry_mu);
    return k;
}

struct gw_pool_key *gw_pool_key_get(const char *provider, const char *label, const char *secret)
{
    unsigned long long fp = secret_fp(secret);
    pthread_mutex_lock(&registry_mu);
    struct gw_pool_key *k = find_locked(provider, label, fp);
    if (!k && (k = calloc(1, sizeof *k)) != NULL) {
        k->provider = strdup(provider);
        k->label = strdup(label);
        if (!k->provider || !k->label) {
            free(k->provider);
            free(k->label);
            free(k);
            k = NULL;
        } else {
            k->fp = fp;
            k->next = registry;
            registry = k;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    return k;
}

void gw_keypools_free(struct gw_keypool *pools, size_t n)
{
    for (size_t i = 0; pools && i < n; i++)
        free(pools[i].keys);
    free(pools);
}

struct gw_keypool *gw_keypools_build(const struct gw_config *cfg)
{
    struct gw_keypool *pools = calloc(cfg->n_providers + 1, sizeof *pools);
    if (!pools)
        return NULL;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct gw_provider_cfg *p = &cfg->providers[i];
        struct gw_keypool *pool = &pools[i];
        pool->cfg = p;
        if (p->n_keys == 0)
            continue;
        if (!(pool->keys = calloc(p->n_keys, sizeof *pool->keys))) {
            gw_keypools_free(pools, cfg->n_providers);
            return NULL;
        }
        pool->n = p->n_keys;
        for (size_t j = 0; j < p->n_keys; j++) {
            pool->keys[j] = gw_pool_key_get(p->name, p->keys[j].label, p->keys[j].secret);
            if (!pool->keys[j]) {
                gw_keypools_free(pools, cfg->n_providers);
                return NULL;
            }
            if (p->keys[j].tpm > 0)
                pool->counts_tokens = 1;
        }
    }
    return pools;
}

void gw_keypool_each(const struct gw_config *cfg,
                     void (*fn)(const struct gw_provider_cfg *p, const struct gw_api_key_cfg *kc,
                                struct gw_pool_key *k, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct gw_provider_cfg *p = &cfg->providers[i];
        for (size_t j = 0; j < p->n_keys; j++)
            fn(p, &p->keys[j], gw_pool_key_find(p->name, p->keys[j].label, p->keys[j].secret), arg);
    }
}

/* ---- the per-minute windows (minute_window.h) --------------------------- */

long long gw_pool_key_used(const struct gw_pool_key *k, int tokens, long long now_us)
{
    return gw_minute_window_sum(tokens ? &k->tok_win : &k->req_win, now_us);
}

double gw_pool_key_headroom(const struct gw_api_key_cfg *kc, const struct gw_pool_key *k,
                            long long now_us)
{
    double h = 1;
    if (kc->rpm > 0) {
        double left = 1 - (double)gw_pool_key_used(k, 0, now_us) / (double)kc->rpm;
        if (left < h)
            h = left;
    }
    if (kc->tpm > 0) {
        double left = 1 - (double)gw_pool_key_used(k, 1, now_us) / (double)kc->tpm;
        if (left < h)
            h = left;
    }
    return h;
}

/* ---- choosing ----------------------------------------------------------- */

int gw_pool_key_resting(const struct gw_pool_key *k, long long at_us)
{
    return atomic_load_explicit(&k->cool_until_us, memory_order_acquire) > at_us;
}

int gw_keypool_choose(const struct gw_keypool *p, long long now_us, double u)
{
    if (p->n == 0)
        return -1;
    if (p->n == 1)
        return 0;
    /* the best headroom, and the total weight of the keys that tie on it */
    double best = 0;
    long long wsum = 0;
    int found = 0, soonest = 0;
    long long soonest_us = 0;
    for (size_t i = 0; i < p->n; i++) {
        long long until = atomic_load_explicit(&p->keys[i]->cool_until_us, memory_order_acquire);
        if (until > now_us) {
            if (soonest_us == 0 || until < soonest_us)
                soonest = (int)i, soonest_us = until;
            continue;
        }
        double h = gw_pool_key_headroom(&p->cfg->keys[i], p->keys[i], now_us);
        if (!found || h > best + 1e-9) {
            best = h;
            wsum = 0;
            found = 1;
        }
        if (h >= best - 1e-9)
            wsum += p->cfg->keys[i].weight;
    }
    if (!found)
        return soonest; /* every key rests: the first one back */
    /* the draw picks among the ties in proportion to weight (all weights 0:
     * the first tie) */
    long long x = wsum > 0 ? (long long)(u * (double)wsum) : 0;
    int first = -1;
    for (size_t i = 0; i < p->n; i++) {
        if (gw_pool_key_resting(p->keys[i], now_us) ||
            gw_pool_key_headroom(&p->cfg->keys[i], p->keys[i], now_us) < best - 1e-9)
            continue;
        if (first < 0)
            first = (int)i;
        long long w = p->cfg->keys[i].weight;
        if (x < w)
            return (int)i;
        x -= w;
    }
    return first; /* the windows moved under us, or weights of 0 */
}

int gw_keypool_resting(const struct gw_keypool *p, long long at_us, long long *back_us)
{
    if (!p || p->n < 2)
        return 0;
    long long soonest = 0;
    for (size_t i = 0; i < p->n; i++) {
        long long until = atomic_load_explicit(&p->keys[i]->cool_until_us, memory_order_acquire);
        if (until <= at_us)
            return 0;
        if (soonest == 0 || until < soonest)
            soonest = until;
    }
    if (back_us)
        *back_us = soonest;
    return 1;
}

int gw_keypool_index(const struct gw_keypool *p, const struct gw_pool_key *k)
{
    for (size_t i = 0; p && k && i < p->n; i++)
        if (p->keys[i] == k)
            return (int)i;
    return -1;
}

/* ---- per call ----------------------------------------------------------- */

void gw_pool_key_start(struct gw_pool_key *k, long long tokens, long long now_us)
{
    atomic_fetch_add_explicit(&k->in_flight, 1, memory_order_relaxed);
    gw_minute_window_add(&k->req_win, 1, now_us);
    if (tokens > 0)
        gw_minute_window_add(&k->tok_win, tokens, now_us);
}

void gw_pool_key_end(struct gw_pool_key *k, long long charged, long long used, int sent,
                     long long started_us)
{
    atomic_fetch_sub_explicit(&k->in_flight, 1, memory_order_relaxed);
    if (sent)
        atomic_fetch_add_explicit(&k->requests, 1, memory_order_relaxed);
    else
        gw_minute_window_fix(&k->req_win, -1, started_us);
    if (used != charged)
        gw_minute_window_fix(&k->tok_win, used - charged, started_us);
}

long long gw_pool_key_cool(struct gw_pool_key *k, const struct gw_provider_cfg *p,
                           long long retry_after_ms, long long now_us)
{
    long long ms = retry_after_ms >= 0 ? retry_after_ms : (long long)p->key_cooldown_s * 1000;
    if (ms > (long long)p->key_cooldown_max_s * 1000)
        ms = (long long)p->key_cooldown_max_s * 1000;
    if (ms < 1000)
        ms = 1000;
    long long until = now_us + ms * 1000;
    long long old = atomic_load_explicit(&k->cool_until_us, memory_order_acquire);
    while (old < until &&
           !atomic_compare_exchange_weak_explicit(&k->cool_until_us, &old, until,
                                                  memory_order_acq_rel, memory_order_acquire))
        ;
    if (old <= now_us) { /* it was in use until now */
        atomic_fetch_add_explicit(&k->cooldowns, 1, memory_order_relaxed);
        gw_warn("provider %s: key %s answered 429: resting for %lld s", k->provider, k->label,
                (ms + 999) / 1000);
    }
    return old > until ? old : until;
}

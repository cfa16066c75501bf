/* Rate limits with GCRA (the generic cell rate algorithm, a token bucket
 * kept as one timestamp): a limit of L units per period P admits a request
 * of cost c when max(now, TAT) + c*P/L - now <= P, and moves TAT there. A
 * burst of L requests passes at once, then one more every P/L: with 60 rpm,
 * 100 simultaneous requests let exactly 60 through. One compare-and-swap per
 * counter; a refusal gives back what the same admission already charged.
 *
 * States are found by id in a registry that only the snapshot builder
 * touches (under its mutex); the request path reaches them through pointers
 * the key snapshot carries. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#define NS 1000000000LL

static const long long period_ns[GW_RL_DIMS] = {60 * NS, 60 * NS, 86400 * NS};

struct entry {
    char *id;
    struct gw_rl_state state;
    struct entry *next;
};

static struct {
    pthread_mutex_t mu;
    struct entry *buckets[1024];
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % 1024;
}

struct gw_rl_state *gw_rl_state_for(const char *id)
{
    unsigned h = hash(id);
    pthread_mutex_lock(&R.mu);
    struct entry *e = R.buckets[h];
    while (e && strcmp(e->id, id) != 0)
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        e->id = strdup(id);
        atomic_store(&e->state.spend.period_kind, -1);
        e->next = R.buckets[h];
        R.buckets[h] = e;
    }
    pthread_mutex_unlock(&R.mu);
    return e ? &e->state : NULL;
}

void gw_rl_shutdown(void)
{
    pthread_mutex_lock(&R.mu);
    for (int i = 0; i < 1024; i++) {
        struct entry *e = R.buckets[i];
        while (e) {
            struct entry *next = e->next;
            free(e->id);
            free(e);
            e = next;
        }
        R.buckets[i] = NULL;
    }
    pthread_mutex_unlock(&R.mu);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * NS + ts.tv_nsec;
}

static long long interval_ns(enum gw_rl_dim d, long long limit)
{
    long long t = period_ns[d] / limit;
    return t > 0 ? t : 1;
}

/* Charges cost units; returns 1, or 0 with *wait_ns until it would fit. */
static int charge(atomic_llong *tat, long long cost_ns, long long tau, long long now,
                  long long *wait_ns, long long *new_tat)
{
    long long old = atomic_load(tat);
    for (;;) {
        long long base = old > now ? old : now;
        long long next = base + cost_ns;
        if (next - now > tau) {
            *wait_ns = next - tau - now;
            return 0;
        }
        if (atomic_compare_exchange_weak(tat, &old, next)) {
            *new_tat = next;
            return 1;
        }
    }
}

static void report(struct gw_rl_verdict *v, enum gw_rl_dim d, long long limit, long long tat,
                   long long now)
{
    long long used_ns = tat > now ? tat - now : 0;
    long long t = interval_ns(d, limit);
    long long remaining = (period_ns[d] - used_ns) / t;
    if (remaining < 0)
        remaining = 0;
    long long *lim = d == GW_RL_RPM ? &v->req_limit : &v->tok_limit;
    long long *rem = d == GW_RL_RPM ? &v->req_remaining : &v->tok_remaining;
    long long *reset = d == GW_RL_RPM ? &v->req_reset_ms : &v->tok_reset_ms;
    if (*lim < 0 || remaining < *rem) {
        *lim = limit;
        *rem = remaining;
        *reset = used_ns / 1000000;
    }
}

static const char *const dim_names[GW_RL_DIMS] = {"rpm", "tpm", "tpd"};

void gw_rl_admit(struct gw_rl_subject *subj, int n, long long tokens, struct gw_rl_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->req_limit = v->tok_limit = -1;
    long long now = now_ns();
    /* what has been charged so far, to undo on a refusal */
    long long charged[8][GW_RL_DIMS] = {{0}};
    int parallel_taken[8] = {0};
    if (n > 8)
        n = 8;
    for (int s = 0; s < n; s++) {
        struct gw_rl_state *st = subj[s].state;
        const struct gw_rl_limits *lim = &subj[s].limits;
        if (!st)
            continue;
        for (int d = 0; d < GW_RL_DIMS; d++) {
            if (lim->per[d] <= 0)
                continue;
            long long units = d == GW_RL_RPM ? 1 : tokens;
            long long cost = units * interval_ns(d, lim->per[d]);
            long long wait, tat;
            if (!charge(&st->tat[d], cost, period_ns[d], now, &wait, &tat)) {
                if (d != GW_RL_TPD) { /* the headers show the limit that was hit */
                    long long *lim_h = d == GW_RL_RPM ? &v->req_limit : &v->tok_limit;
                    *lim_h = -1;
                    report(v, (enum gw_rl_dim)d, lim->per[d], atomic_load(&st->tat[d]), now);
                }
                v->what = subj[s].what;
                v->limit = dim_names[d];
                v->limit_value = lim->per[d];
                /* a request larger than the whole bucket never fits: say so
                 * with a full period, the honest upper bound */
                v->retry_after_ms =
                    cost > period_ns[d] ? period_ns[d] / 1000000 : (wait + 999999) / 1000000;
                goto refuse;
            }
            charged[s][d] = cost;
            if (d != GW_RL_TPD)
                report(v, (enum gw_rl_dim)d, lim->per[d], tat, now);
        }
        if (lim->parallel > 0) {
            int running = atomic_fetch_add(&st->in_flight, 1) + 1;
            if (running > lim->parallel) {
                atomic_fetch_sub(&st->in_flight, 1);
                v->what = subj[s].what;
                v->limit = "concurrent";
                v->limit_value = lim->parallel;
                v->retry_after_ms = 1000;
                goto refuse;
            }
            parallel_taken[s] = 1;
        }
    }
    v->ok = 1;
    return;
refuse:
    for (int s = 0; s < n; s++) {
        for (int d = 0; d < GW_RL_DIMS; d++)
            if (charged[s][d])
                atomic_fetch_sub(&subj[s].state->tat[d], charged[s][d]);
        if (parallel_taken[s])
            atomic_fetch_sub(&subj[s].state->in_flight, 1);
    }
    v->ok = 0;
}

void gw_rl_finish(struct gw_rl_subject *subj, int n, long long reserved, long long used)
{
    for (int s = 0; s < n && s < 8; s++) {
        struct gw_rl_state *st = subj[s].state;
        if (!st)
            continue;
        for (int d = GW_RL_TPM; d < GW_RL_DIMS; d++)
            if (subj[s].limits.per[d] > 0 && used != reserved)
                atomic_fetch_add(&st->tat[d],
                                 (used - reserved) * interval_ns(d, subj[s].limits.per[d]));
        if (subj[s].limits.parallel > 0)
            atomic_fetch_sub(&st->in_flight, 1);
    }
}

void gw_rl_format_reset(long long ms, char *out, int len)
{
    if (ms < 1000) {
        snprintf(out, (size_t)len, "%lldms", ms);
    } else if (ms < 60000) {
        long long tenths = (ms % 1000) / 100;
        if (tenths)
            snprintf(out, (size_t)len, "%lld.%llds", ms / 1000, tenths);
        else
            snprintf(out, (size_t)len, "%llds", ms / 1000);
    } else if (ms < 3600000) {
        snprintf(out, (size_t)len, "%lldm%llds", ms / 60000, (ms % 60000) / 1000);
    } else {
        snprintf(out, (size_t)len, "%lldh%lldm%llds", ms / 3600000, (ms % 3600000) / 60000,
                 (ms % 60000) / 1000);
    }
}

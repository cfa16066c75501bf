/* Live state of deployments: what the router knows about each (model,
 * provider, upstream model) beyond the config — requests in flight, the
 * average time to first byte, counters, and its circuit breaker — plus a
 * round-robin counter per model group. The state lives for the process: it
 * is created the first time a config names the deployment and kept across
 * reloads, so a reload neither closes an open breaker nor forgets latencies.
 *
 * Reads on the request path are lock-free (atomics). Recording an outcome
 * takes the deployment's own mutex for its failure window; nothing here takes
 * a global lock after start-up except the registry lookup a config install
 * (and status, metrics) makes. */
#ifndef GW_DEPLOYMENTS_H
#define GW_DEPLOYMENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "minute_window.h"

/* What a finished request says about the deployment that served it. */
enum gw_outcome {
    GW_OUTCOME_NONE,    /* never sent: the gateway refused it after routing (a budget...) */
    GW_OUTCOME_NEUTRAL, /* not the deployment's doing: the client's error (a provider 4xx) */
    GW_OUTCOME_SUCCESS,
    GW_OUTCOME_FAILURE, /* 5xx, 429, unreachable, timeout, a broken answer or stream */
};

/* Breaker states as /metrics shows them (gw_breaker_view). */
enum gw_breaker_state {
    GW_BREAKER_CLOSED = 0,
    GW_BREAKER_OPEN = 1,      /* no traffic until the cooldown ends */
    GW_BREAKER_HALF_OPEN = 2, /* cooldown over: one probe request may go (or is out) */
};

/* Whether a breaker lets a request through now (gw_breaker_check). */
enum gw_pass {
    GW_PASS_NO,    /* open, or half-open with its probe already out */
    GW_PASS_YES,   /* closed (or disabled) */
    GW_PASS_PROBE, /* half-open: the request may go only as the probe (gw_breaker_claim) */
};

#define GW_BREAKER_SLOTS 20 /* the failure-rate window, in slices */

/* DESIGN: `state` holds CLOSED, OPEN or HALF_OPEN (a probe is out); an OPEN
 * breaker whose open_until_us has passed is half-open for readers, and the
 * request that moves it to HALF_OPEN with a compare-and-swap is the probe
 * (`probe` names it). Only the probe's outcome moves HALF_OPEN on; CLOSED ->
 * OPEN happens under mu, where outcomes are counted. */
struct gw_breaker {
    atomic_int state;
    atomic_llong open_until_us; /* OPEN: when a probe may go */
    atomic_uintptr_t probe;     /* HALF_OPEN: the probe's owner token */
    atomic_llong opened_total;  /* times it opened */
    pthread_mutex_t mu;         /* the fields below */
    int consecutive;            /* failures in a row */
    long long slice_us;         /* the slice width the window was counted with */
    struct {
        long long slice; /* which slice of time this slot counts; stale slots are reset */
        int requests, failures;
    } win[GW_BREAKER_SLOTS];
};

struct gw_model_group;

struct gw_deployment {
    char *model, *provider, *upstream; /* the identity (owned) */
    char *label;                       /* "provider/upstream", as x-gw-deployment */
    struct gw_model_group *group;
    atomic_long in_flight;
    atomic_llong ttfb_ewma_us; /* 0: no sample yet */
    atomic_llong requests, failures, successes;
    /* for the deployment's own limits: upstream calls and their tokens over
     * the last minute, and times a request passed it over for a limit */
    struct gw_minute_window req_win, tok_win;
    atomic_llong limited_total;
    struct gw_breaker breaker;
    struct gw_deployment *next; /* in the registry */
};

/* A model name's group state, shared by its deployments. */
struct gw_model_group {
    char *name;
    atomic_ulong rr; /* round-robin position */
    struct gw_model_group *next;
};

/* The live state of (model, provider, upstream), created on first sight.
 * Lives as long as the process; NULL only when out of memory. */
struct gw_deployment *gw_deployment_get(const char *model, const char *provider,
                                        const char *upstream);
/* The same, without creating it (NULL if never seen). */
struct gw_deployment *gw_deployment_find(const char *model, const char *provider,
                                         const char *upstream);

/* Which of a deployment's limits is in the way (gw_deployment_room). */
enum gw_dep_limit { GW_DEP_ROOM, GW_DEP_RPM, GW_DEP_TPM, GW_DEP_IN_FLIGHT };

/* Whether d has room under dc's limits (rpm, tpm, max_in_flight) for one
 * more call charging `tokens` tokens at now_us: GW_DEP_ROOM, or the limit in
 * the way with *back_us (may be NULL) when it may have room: for rpm and
 * tpm when the oldest second counted leaves the minute, for max_in_flight
 * a second from now. A call larger than the whole tpm fits an empty
 * minute. */
enum gw_dep_limit gw_deployment_room(const struct gw_deployment_cfg *dc,
                                     const struct gw_deployment *d, long long tokens,
                                     long long now_us, long long *back_us);

/* The request path's bookkeeping. start: a call goes to d: one more in
 * flight, one request and `tokens` tokens in the minute's windows; with
 * check, only if dc's limits leave room (0: nothing counted), checked and
 * counted together so that simultaneous requests cannot overrun a limit
 * by more than they race for one window slot. end: the call's in-flight
 * slot is given back. settle: the tokens charged at started_us are
 * corrected from `charged` to `used` in the slot they went to, and sent 0
 * (the call was never made) takes the request back out. finish: its
 * outcome is known (once per request): ttfb_us is its upstream time to
 * first byte (0 when unknown), averaged only for a success; owner
 * identifies the request, so the probe's outcome is told from the
 * others'. */
int gw_deployment_start(struct gw_deployment *d, const struct gw_deployment_cfg *dc,
                        long long tokens, long long now_us, int check);
void gw_deployment_end(struct gw_deployment *d);
void gw_deployment_settle(struct gw_deployment *d, long long charged, long long used, int sent,
                          long long started_us);
/* A request passed d over because it was at a limit (for /metrics). */
void gw_deployment_count_limited(struct gw_deployment *d);
/* The limit's name as status shows it ("rpm", "tpm", "max_in_flight"). */
const char *gw_dep_limit_name(enum gw_dep_limit l);
void gw_deployment_finish(struct gw_deployment *d, const struct gw_breaker_cfg *cfg,
                          enum gw_outcome o, long long ttfb_us, uintptr_t owner, long long now_us);

/* What a request that ended with this HTTP status and r->error code says
 * about its deployment. streamed: a 2xx stream had started (an error code
 * then means the provider failed mid-answer). */
enum gw_outcome gw_deployment_outcome(int status, const char *error, int streamed);

/* ---- the breaker (explicit clocks, for the tests) ---------------------- */

void gw_breaker_init(struct gw_breaker *b);
/* Whether a request may go now; *until_us gets when an open breaker turns
 * half-open (unchanged otherwise). */
enum gw_pass gw_breaker_check(struct gw_breaker *b, const struct gw_breaker_cfg *cfg,
                              long long now_us, long long *until_us);
/* For a GW_PASS_PROBE breaker: 1 if owner is now its one probe, 0 if another
 * request got there first. */
int gw_breaker_claim(struct gw_breaker *b, uintptr_t owner, long long now_us);
/* Counts one outcome and moves the state (closed -> open on too many
 * failures; the probe's success closes, its failure re-opens, a neutral end
 * lets the next request probe). */
void gw_breaker_record(struct gw_breaker *b, const struct gw_breaker_cfg *cfg, enum gw_outcome o,
                       uintptr_t owner, long long now_us);
/* The state as shown to operators, and when it may let a probe through
 * (open only; 0 otherwise). */
enum gw_breaker_state gw_breaker_view(const struct gw_breaker *b, long long now_us,
                                      long long *until_us);
const char *gw_breaker_state_name(enum gw_breaker_state s);

/* Calls fn for every deployment of every model of cfg, in config order
 * (priority order within a model), with its live state (NULL if it has never
 * been seen, e.g. a config being checked). */
void gw_deployments_each(const struct gw_config *cfg,
                         void (*fn)(const struct gw_model_cfg *m,
                                    const struct gw_deployment_cfg *dc, struct gw_deployment *d,
                                    void *arg),
                         void *arg);

#endif

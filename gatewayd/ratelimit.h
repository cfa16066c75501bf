/* Rate-limit accounting: per key and per team, requests per minute, tokens
 * per minute, tokens per day, and requests in flight. Counters live in
 * long-lived state objects (one per key id or team id, found once by the
 * snapshot builder, never on the request path); admission is a few atomic
 * compare-and-swaps, no lock. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdatomic.h>

#include "budget.h"

enum gw_rl_dim { GW_RL_RPM, GW_RL_TPM, GW_RL_TPD, GW_RL_DIMS };

/* The counters of one key or team: rate limits here, spend for budgets. */
struct gw_rl_state {
    atomic_llong tat[GW_RL_DIMS]; /* GCRA "theoretical arrival time", monotonic ns */
    atomic_int in_flight;
    struct gw_spend spend;
};

/* The limits that apply to one key or team (0 = none). */
struct gw_rl_limits {
    long long per[GW_RL_DIMS]; /* rpm, tpm, tpd */
    long long parallel;
};

/* Finds or creates the state of an id ("key_..." or "team_..."). Call only
 * off the request path (the snapshot builder); states live until exit. */
struct gw_rl_state *gw_rl_state_for(const char *id);
void gw_rl_shutdown(void);

/* One subject (key or team) of an admission. */
struct gw_rl_subject {
    const char *what; /* "key" or "team", for messages */
    struct gw_rl_state *state;
    struct gw_rl_limits limits;
};

/* The outcome of an admission, for the response headers and the refusal. */
struct gw_rl_verdict {
    int ok;
    const char *what;  /* refused: "key" or "team" */
    const char *limit; /* refused: "rpm", "tpm", "tpd" or "concurrent" */
    long long limit_value;
    long long retry_after_ms; /* refused: when the request would fit */
    /* the tightest of the subjects, for x-ratelimit-* (-1: no such limit) */
    long long req_limit, req_remaining, req_reset_ms;
    long long tok_limit, tok_remaining, tok_reset_ms;
};

/* Admits one request costing `tokens` against every subject, all or
 * nothing: either every counter is charged (ok = 1) or none is. */
void gw_rl_admit(struct gw_rl_subject *subj, int n, long long tokens, struct gw_rl_verdict *v);
/* At the request's end: gives back the in-flight slot and corrects the
 * token charge from `reserved` to `used`. */
void gw_rl_finish(struct gw_rl_subject *subj, int n, long long reserved, long long used);

/* Formats a duration as OpenAI's reset headers do: "1s", "6m0s", "20ms". */
void gw_rl_format_reset(long long ms, char *out, int len);

#endif

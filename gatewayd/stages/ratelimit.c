/* Stage ratelimit: admits the request against its key's and its team's
 * limits (requests per minute, tokens per minute, tokens per day, requests
 * in flight), reserving prompt tokens + max_tokens (or
 * rate_limiting.default_max_tokens; an embeddings request reserves its input
 * tokens alone, tokens.h); at the end of the request the
 * reservation is corrected to the real usage and the in-flight slot given
 * back. Every response says where the caller stands, with OpenAI's
 * x-ratelimit-* headers; a refusal is a 429 with Retry-After that names the
 * limit that was hit and when it frees up. */
#include <stdio.h>

#include "errors.h"
#include "metrics.h"
#include "pipeline.h"
#include "ratelimit.h"
#include "request.h"
#include "tokens.h"

static void set_header_num(struct gw_request *r, const char *name, long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    gw_request_add_header(r, name, num);
}

static void set_headers(struct gw_request *r, const struct gw_rl_verdict *v)
{
    char reset[32];
    if (v->req_limit >= 0) {
        set_header_num(r, "x-ratelimit-limit-requests", v->req_limit);
        set_header_num(r, "x-ratelimit-remaining-requests", v->req_remaining);
        gw_rl_format_reset(v->req_reset_ms, reset, sizeof reset);
        gw_request_add_header(r, "x-ratelimit-reset-requests", reset);
    }
    if (v->tok_limit >= 0) {
        set_header_num(r, "x-ratelimit-limit-tokens", v->tok_limit);
        set_header_num(r, "x-ratelimit-remaining-tokens", v->tok_remaining);
        gw_rl_format_reset(v->tok_reset_ms, reset, sizeof reset);
        gw_request_add_header(r, "x-ratelimit-reset-tokens", reset);
    }
}

static long long pick(long long own, long long dflt)
{
    return own >= 0 ? own : dflt;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_rate_limiting *cfg = &r->cfg->rate_limiting;
    if (!cfg->enabled || !r->who.key_rl)
        return GW_STAGE_CONTINUE;
    const struct gw_principal *w = &r->who;
    struct gw_rl_subject *s = r->rl;
    int n = 0;
    s[n].what = "key";
    s[n].state = w->key_rl;
    s[n].limits.per[GW_RL_RPM] = pick(w->key_limits.per[GW_RL_RPM], cfg->rpm);
    s[n].limits.per[GW_RL_TPM] = pick(w->key_limits.per[GW_RL_TPM], cfg->tpm);
    s[n].limits.per[GW_RL_TPD] = pick(w->key_limits.per[GW_RL_TPD], cfg->tpd);
    s[n].limits.parallel = pick(w->key_limits.parallel, cfg->concurrent);
    n++;
    if (w->team_rl) {
        s[n].what = "team";
        s[n].state = w->team_rl;
        for (int d = 0; d < GW_RL_DIMS; d++)
            s[n].limits.per[d] = pick(w->team_limits.per[d], 0);
        s[n].limits.parallel = pick(w->team_limits.parallel, 0);
        n++;
    }
    long long tokens = gw_tokens_input(r) + gw_tokens_answer_budget(r);
    struct gw_rl_verdict v;
    gw_rl_admit(s, n, tokens, &v);
    set_headers(r, &v);
    if (v.ok) {
        r->n_rl = n;
        r->rl_reserved = tokens;
        return GW_STAGE_CONTINUE;
    }
    gw_metrics_rate_limited(v.what, v.limit);
    set_header_num(r, "retry-after", (v.retry_after_ms + 999) / 1000);
    char when[32];
    gw_rl_format_reset(v.retry_after_ms, when, sizeof when);
    const char *name = v.what[0] == 'k' ? w->key_name : w->team_name;
    const char *unit = v.limit[0] == 'r'   ? "requests per minute"
                       : v.limit[0] == 'c' ? "requests at once"
                       : v.limit[2] == 'm' ? "tokens per minute"
                                           : "tokens per day";
    gw_error_respond(r, 429, v.limit[0] == 't' ? "tokens" : "requests", "rate_limit_exceeded", NULL,
                     "Rate limit reached for %s '%s' (%s: %lld %s). Try again in %s.", v.what,
                     name ? name : "?", v.limit, v.limit_value, unit, when);
    return GW_STAGE_RESPOND;
}

static void done(struct gw_request *r)
{
    if (r->n_rl)
        gw_rl_finish(r->rl, r->n_rl, r->rl_reserved, r->prompt_tokens + r->completion_tokens);
    r->n_rl = 0;
}

const struct gw_stage gw_stage_ratelimit = {
    .name = "ratelimit",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_EMBEDDINGS,
    .run = run,
    .done = done,
};

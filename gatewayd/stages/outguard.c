/* Stage outguard: arms the output guard (outguard.h) for chat and messages
 * requests when it is on with patterns: on in the config, unless the key
 * says otherwise (key_settings.h, `gwctl key update --output-guard`). setup
 * compiles output_guard.blocked_patterns into one Aho-Corasick matcher per
 * config whenever there are patterns, so a key can switch the guard on where
 * the config has it off;
 * run points the request at it and marks it text-filtered, which turns the
 * byte relays off so the answer's text can be read (textfilter.h); done
 * turns a whole answer the guard stopped into the caller's 400. Off, the
 * stage costs one test of a pointer per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acmatch.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "outguard.h"
#include "pipeline.h"
#include "request.h"

static void teardown(void *state)
{
    struct gw_outguard *g = state;
    if (g)
        gw_ac_free(g->ac);
    free(g);
}

static int setup(const struct gw_config *cfg, void **state, char *err, size_t errlen)
{
    const struct gw_output_guard_cfg *c = &cfg->output_guard;
    if (c->n_blocked == 0)
        return 0;
    struct gw_outguard *g = calloc(1, sizeof *g);
    if (g)
        g->ac = gw_ac_build(c->blocked_patterns, c->n_blocked);
    if (!g || !g->ac) {
        teardown(g);
        snprintf(err, errlen, "output_guard: out of memory compiling blocked_patterns");
        return -1;
    }
    for (size_t i = 0; i < c->n_blocked; i++)
        if (strlen(c->blocked_patterns[i]) > g->max_len)
            g->max_len = strlen(c->blocked_patterns[i]);
    *state = g;
    return 0;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_outguard *g = gw_pipeline_state(r, &gw_stage_outguard);
    int key_on = r->who.key_id ? r->who.settings.output_guard : -1; /* -1: as the config */
    int on = key_on >= 0 ? key_on : r->cfg->output_guard.enabled;
    if (!g || !on)
        return GW_STAGE_CONTINUE;
    r->output_guard = g;
    r->text_filtered = 1;
    return GW_STAGE_CONTINUE;
}

void gw_outguard_block(struct gw_request *r, int pattern, struct gw_buf *out)
{
    if (r->output_blocked)
        return;
    r->output_blocked = 1;
    r->output_blocked_pattern = pattern;
    gw_metrics_output_blocked();
    const struct gw_output_guard_cfg *g = &r->cfg->output_guard;
    gw_info("%s: output guard: the answer from %s matches blocked pattern %d (\"%s\"); it ends "
            "here",
            r->id, r->provider ? r->provider->name : "?", pattern,
            pattern >= 0 && (size_t)pattern < g->n_blocked ? g->blocked_patterns[pattern] : "?");
    if (!r->stream)
        return; /* a whole answer: replaced when the request ends (done) */
    char msg[160];
    snprintf(msg, sizeof msg,
             "The answer was stopped by the gateway's output guard (blocked pattern #%d).",
             pattern);
    const char *error = r->error; /* set at the end (gw_outguard_ended), not now */
    gw_error_stream_event(r, out, "invalid_request_error", "output_blocked", msg);
    r->error = error;
}

void gw_outguard_ended(struct gw_request *r)
{
    r->error = "output_blocked";
}

/* A whole answer the guard stopped becomes the caller's error. Runs before
 * the response is queued (http.c queues a whole answer after the done
 * hooks), and before the cache's done hook, which then sees an error. */
static void done(struct gw_request *r)
{
    if (!r->output_blocked || r->stream)
        return;
    gw_error_respond(r, 400, "invalid_request_error", "output_blocked", NULL,
                     "The answer was withheld by the gateway's output guard (blocked pattern "
                     "#%d).",
                     r->output_blocked_pattern);
}

const struct gw_stage gw_stage_outguard = {
    .name = "outguard",
    .apis = GW_API_CHAT | GW_API_MESSAGES,
    .run = run,
    .setup = setup,
    .teardown = teardown,
    .done = done,
};

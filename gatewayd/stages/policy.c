/* Stage policy: the content policy, before anything costs money. Blocked
 * phrases (content_policy.blocked_patterns) are matched case-insensitively
 * over the text of every message, in one linear pass (Aho-Corasick, built
 * once per config by setup); the prompt's size is checked against
 * content_policy.max_input_tokens. An embeddings request is held to the same
 * rules over its input: every input string, and every token array as the
 * text it decodes to in the model's encoding (so tokens are no side door).
 * Either refusal is a 400, as OpenAI's own policy refusals are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acmatch.h"
#include "errors.h"
#include "log.h"
#include "pipeline.h"
#include "request.h"
#include "tokens.h"

static int setup(const struct gw_config *cfg, void **state, char *err, size_t errlen)
{
    const struct gw_content_policy *p = &cfg->content_policy;
    if (!p->enabled || p->n_blocked == 0)
        return 0;
    *state = gw_ac_build(p->blocked_patterns, p->n_blocked);
    if (!*state) {
        snprintf(err, errlen, "content_policy: out of memory compiling blocked_patterns");
        return -1;
    }
    return 0;
}

static void teardown(void *state)
{
    gw_ac_free(state);
}

/* Scans one message content (a string, or text parts); -1 or a pattern index. */
static int scan_content(const struct gw_ac *ac, const cJSON *content)
{
    struct gw_ac_scan scan = {0};
    if (cJSON_IsString(content))
        return gw_ac_feed(ac, &scan, content->valuestring, strlen(content->valuestring));
    if (!cJSON_IsArray(content))
        return -1;
    for (const cJSON *part = content->child; part; part = part->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        struct gw_ac_scan fresh = {0}; /* a phrase does not span two parts */
        int hit =
            cJSON_IsString(t) ? gw_ac_feed(ac, &fresh, t->valuestring, strlen(t->valuestring)) : -1;
        if (hit >= 0)
            return hit;
    }
    return -1;
}

/* Scans one embeddings input item (a string, or a token array decoded in
 * the model's encoding; one that cannot be decoded has no text to match). */
static int scan_input(const struct gw_request *r, const struct gw_ac *ac, const cJSON *item)
{
    struct gw_ac_scan scan = {0};
    if (cJSON_IsString(item))
        return gw_ac_feed(ac, &scan, item->valuestring, strlen(item->valuestring));
    size_t len;
    char *text = cJSON_IsArray(item) ? gw_tokens_decode(r, item, &len) : NULL;
    int hit = text ? gw_ac_feed(ac, &scan, text, len) : -1;
    free(text);
    return hit;
}

/* The blocked pattern in r's input (-1: none); *where says where it is. */
static int find_blocked(const struct gw_request *r, const struct gw_ac *ac, char *where,
                        size_t wlen)
{
    if (r->api == GW_API_EMBEDDINGS) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
        if (cJSON_IsString(in) || cJSON_IsNumber(in->child)) { /* one text, one token array */
            snprintf(where, wlen, "input");
            return scan_input(r, ac, in);
        }
        int i = 0;
        for (const cJSON *it = in->child; it; it = it->next, i++) {
            int hit = scan_input(r, ac, it);
            if (hit >= 0) {
                snprintf(where, wlen, "input[%d]", i);
                return hit;
            }
        }
        return -1;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        int hit = scan_content(ac, cJSON_GetObjectItemCaseSensitive(m, "content"));
        if (hit >= 0) {
            snprintf(where, wlen, "messages[%d]", i);
            return hit;
        }
    }
    return -1;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_content_policy *p = &r->cfg->content_policy;
    if (!p->enabled)
        return GW_STAGE_CONTINUE;
    const char *field = r->api == GW_API_EMBEDDINGS ? "input" : "messages";
    const struct gw_ac *ac = gw_pipeline_state(r, &gw_stage_policy);
    if (ac) {
        char where[48];
        int hit = find_blocked(r, ac, where, sizeof where);
        if (hit >= 0) {
            gw_info("%s: content policy: %s matches blocked pattern %d (\"%s\")", r->id, where, hit,
                    p->blocked_patterns[hit]);
            gw_error_respond(r, 400, "invalid_request_error", "content_policy_violation", field,
                             "Your request was rejected by the gateway's content "
                             "policy (blocked pattern #%d in %s).",
                             hit, where);
            return GW_STAGE_RESPOND;
        }
    }
    if (p->max_input_tokens > 0) {
        long long n = gw_tokens_input(r);
        if (n > p->max_input_tokens) {
            gw_error_respond(r, 400, "invalid_request_error", "context_length_exceeded", field,
                             "This request has %lld input tokens; the gateway allows "
                             "at most %lld (content_policy.max_input_tokens).",
                             n, p->max_input_tokens);
            return GW_STAGE_RESPOND;
        }
    }
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_policy = {
    .name = "policy",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_EMBEDDINGS,
    .run = run,
    .setup = setup,
    .teardown = teardown,
};

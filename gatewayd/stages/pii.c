/* Stage pii: personal data out of the request before it leaves the gateway
 * (config `pii:`, docs/safety.md). The values of the configured entities
 * (common/pii.h) found in the parsed request are replaced by placeholders
 * such as <<PII_EMAIL_a3f8c1d0>>: every message's text (string contents
 * and text parts, system and tool messages included), the argument JSON of
 * earlier tool calls (string values), `user`, and for /v1/embeddings each
 * input string (token arrays are left as they are). A request that changed
 * is marked json_rewritten, so the adapters build the upstream body from
 * r->json and never relay the caller's bytes; with `restore` on, its
 * placeholder map goes to the answer's text filters (textfilter.h), which
 * put the values back in what the client gets. Anything the gateway
 * records about the request after this stage (cache keys, logs) sees only
 * placeholders.
 *
 * The key's own settings (key_settings.h, `gwctl key update --pii`,
 * `--pii-entities`) come before the config's: a key may switch the stage
 * on where the config has it off, or off where it is on, and choose its
 * own entities; `restore` is the config's.
 *
 * Off (the default), the stage returns before touching r->json. */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "pii.h"
#include "pipeline.h"
#include "request.h"

struct scrubber {
    struct gw_pii_map *map;
    unsigned mask;
    struct gw_buf buf;
    int oom;
};

/* A string item, replaced in place when it holds values. */
static void scrub_string(struct scrubber *s, cJSON *item)
{
    if (!cJSON_IsString(item) || !item->valuestring || s->oom)
        return;
    gw_buf_reset(&s->buf);
    long n = gw_pii_scrub(s->map, s->mask, item->valuestring, strlen(item->valuestring), &s->buf);
    if (n < 0 ||
        (n > 0 && (gw_buf_append(&s->buf, "", 1) != 0 || !cJSON_SetValuestring(item, s->buf.data))))
        s->oom = 1;
}

/* Every string inside a JSON value. */
static void scrub_tree(struct scrubber *s, cJSON *v)
{
    if (cJSON_IsString(v))
        scrub_string(s, v);
    for (cJSON *c = cJSON_IsArray(v) || cJSON_IsObject(v) ? v->child : NULL; c; c = c->next)
        scrub_tree(s, c);
}

/* A tool call's arguments: the JSON text's string values (so the JSON stays
 * valid whatever a value sits next to); text that is not JSON, as text. */
static void scrub_arguments(struct scrubber *s, cJSON *args)
{
    if (!cJSON_IsString(args) || !args->valuestring)
        return;
    cJSON *j = cJSON_Parse(args->valuestring);
    if (!j) {
        scrub_string(s, args);
        return;
    }
    long before = 0;
    for (int t = 0; t < GW_PII_N_TYPES; t++)
        before += gw_pii_map_replaced(s->map, (enum gw_pii_type)t);
    scrub_tree(s, j);
    long after = 0;
    for (int t = 0; t < GW_PII_N_TYPES; t++)
        after += gw_pii_map_replaced(s->map, (enum gw_pii_type)t);
    if (after != before && !s->oom) {
        char *text = cJSON_PrintUnformatted(j);
        if (!text || !cJSON_SetValuestring(args, text))
            s->oom = 1;
        cJSON_free(text);
    }
    cJSON_Delete(j);
}

static void scrub_content(struct scrubber *s, cJSON *content)
{
    if (cJSON_IsString(content)) {
        scrub_string(s, content);
        return;
    }
    for (cJSON *part = cJSON_IsArray(content) ? content->child : NULL; part; part = part->next)
        scrub_string(s, cJSON_GetObjectItemCaseSensitive(part, "text"));
}

static void scrub_chat(struct scrubber *s, cJSON *json)
{
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(json, "messages");
    for (cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next) {
        scrub_content(s, cJSON_GetObjectItemCaseSensitive(m, "content"));
        cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        for (cJSON *c = cJSON_IsArray(calls) ? calls->child : NULL; c; c = c->next)
            scrub_arguments(s, cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(c, "function"), "arguments"));
    }
    scrub_string(s, cJSON_GetObjectItemCaseSensitive(json, "user"));
}

static void scrub_embeddings(struct scrubber *s, cJSON *json)
{
    cJSON *in = cJSON_GetObjectItemCaseSensitive(json, "input");
    if (cJSON_IsString(in)) {
        scrub_string(s, in);
        return;
    }
    for (cJSON *it = cJSON_IsArray(in) ? in->child : NULL; it; it = it->next)
        scrub_string(s, it); /* token arrays are not strings: left alone */
    scrub_string(s, cJSON_GetObjectItemCaseSensitive(json, "user"));
}

static void free_map(void *m)
{
    gw_pii_map_free(m);
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_pii_cfg *p = &r->cfg->pii;
    /* a request with no key (none reaches here today) follows the config */
    static const struct gw_key_settings inherit = GW_KEY_SETTINGS_INHERIT;
    const struct gw_key_settings *ks = r->who.key_id ? &r->who.settings : &inherit;
    int on = ks->pii >= 0 ? ks->pii : p->enabled;
    unsigned entities = ks->pii_entities ? ks->pii_entities : p->entities;
    if (!on || !entities)
        return GW_STAGE_CONTINUE;
    struct scrubber s = {.map = gw_pii_map_new(), .mask = entities};
    if (!s.map || gw_arena_on_destroy(r->arena, free_map, s.map) != 0) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    if (r->api == GW_API_EMBEDDINGS)
        scrub_embeddings(&s, r->json);
    else
        scrub_chat(&s, r->json);
    gw_buf_free(&s.buf);
    if (s.oom) {
        /* part of the request may still hold values: never send it */
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    long total = 0;
    char counts[160] = "";
    for (int t = 0; t < GW_PII_N_TYPES; t++) {
        long n = gw_pii_map_replaced(s.map, (enum gw_pii_type)t);
        if (!n)
            continue;
        gw_metrics_pii_replaced(t, n);
        size_t l = strlen(counts);
        snprintf(counts + l, sizeof counts - l, "%s%s=%ld", total ? "," : "",
                 gw_pii_type_name((enum gw_pii_type)t), n);
        total += n;
    }
    if (!total)
        return GW_STAGE_CONTINUE; /* nothing changed: relays stay possible */
    r->json_rewritten = 1;
    if (p->restore && r->api != GW_API_EMBEDDINGS) {
        r->pii_map = s.map;
        r->text_filtered = 1;
    }
    char num[24];
    snprintf(num, sizeof num, "%ld", total);
    gw_request_add_header(r, "x-gw-pii-replaced", num);
    gw_info("%s: pii: replaced %s", r->id, counts); /* counts only, never a value */
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_pii = {
    .name = "pii",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_EMBEDDINGS,
    .run = run,
};

/* The `firewall:` section of the configuration (the semantic firewall,
 * docs/safety.md#firewall), read with the shared readers (config-int.h),
 * and its default: off, with no pattern sets.
 *
 *   firewall:
 *     enabled: true
 *     exempt_keys: [eval-harness]
 *     pattern_sets:
 *       - name: injection
 *         action: block            # block | warn | log
 *         threshold: 0.80          # cosine similarity, 0..1
 *         patterns: ["ignore all previous instructions", ...]
 *     llm_verdict:                 # a safety model's safe/unsafe answer
 *       enabled: true
 *       model: safety              # a configured model (checked by the stage)
 *       on_error: allow            # allow | block: no usable answer
 *       cache_threshold: 0.95      # reuse a past verdict at this similarity
 *       max_cached: 10000          # verdicts kept in memory (0: none)
 *       prompt: "..."              # the classification instruction
 *
 * A set needs a unique name (letters, digits, '_', '-', '.'; it appears in
 * headers, logs and metric labels) and at least one pattern. */
#include <string.h>

#include "arena.h"
#include "config-int.h"
#include "embed.h"

#define GW_FW_DEFAULT_THRESHOLD 0.80
#define GW_FW_MAX_SETS          64

#define GW_FW_VERDICT_THRESHOLD  0.95
#define GW_FW_VERDICT_MAX_CACHED 10000

void gw_cfg_firewall_defaults(struct gw_config *cfg)
{
    cfg->firewall = (struct gw_firewall_cfg){0};
    cfg->firewall.verdict.cache_threshold = GW_FW_VERDICT_THRESHOLD;
    cfg->firewall.verdict.max_cached = GW_FW_VERDICT_MAX_CACHED;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static int set_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_firewall_set *s = arg;
    if (strcmp(k, "name") == 0) {
        if (gw_cfg_str(c, v, k, &s->name) != 0)
            return -1;
        if (!name_ok(s->name))
            return gw_cfg_fail(
                c, v, k, "'%s': a set name is 1 to 64 letters, digits, '_', '-' or '.'", s->name);
        return 0;
    }
    if (strcmp(k, "action") == 0) {
        const char *a = gw_cfg_scalar(v);
        if (a && strcmp(a, "block") == 0)
            s->action = GW_FW_BLOCK;
        else if (a && strcmp(a, "warn") == 0)
            s->action = GW_FW_WARN;
        else if (a && strcmp(a, "log") == 0)
            s->action = GW_FW_LOG;
        else
            return gw_cfg_fail(c, v, k, "expected block, warn or log");
        return 0;
    }
    if (strcmp(k, "threshold") == 0) {
        if (gw_cfg_double(c, v, k, &s->threshold) != 0)
            return -1;
        if (s->threshold <= 0 || s->threshold > 1)
            return gw_cfg_fail(c, v, k, "expected a similarity above 0 and at most 1");
        return 0;
    }
    if (strcmp(k, "patterns") == 0) {
        if (gw_cfg_str_list(c, v, k, &s->patterns, &s->n_patterns) != 0)
            return -1;
        /* a pattern with no words embeds to nothing and could never match */
        float vec[GW_EMBED_LOCAL_DIM];
        for (size_t i = 0; i < s->n_patterns; i++)
            if (gw_embed_local(s->patterns[i], strlen(s->patterns[i]), vec) == 1)
                return gw_cfg_fail(c, v, k, "pattern %zu ('%.60s') has no words", i + 1,
                                   s->patterns[i]);
        return 0;
    }
    return gw_cfg_fail(c, v, k, "unknown key in a pattern set (name, action, threshold, patterns)");
}

static int pattern_sets(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k)
{
    struct gw_firewall_cfg *f = &c->cfg->firewall;
    if (v->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, v, k, "expected a list of pattern sets");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > GW_FW_MAX_SETS)
        return gw_cfg_fail(c, v, k, "at most %d pattern sets", GW_FW_MAX_SETS);
    struct gw_firewall_set *sets = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *sets);
    if (!sets)
        return gw_cfg_fail(c, v, k, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, v->data.sequence.items.start[i]);
        struct gw_firewall_set *s = &sets[i];
        s->action = GW_FW_BLOCK;
        s->threshold = GW_FW_DEFAULT_THRESHOLD;
        if (gw_cfg_each(c, item, k, set_pair, s) != 0)
            return -1;
        if (!s->name)
            return gw_cfg_fail(c, item, k, "a pattern set needs a name");
        if (s->n_patterns == 0)
            return gw_cfg_fail(c, item, s->name, "a pattern set needs at least one pattern");
        for (size_t j = 0; j < i; j++)
            if (strcmp(sets[j].name, s->name) == 0)
                return gw_cfg_fail(c, item, s->name, "pattern set name used twice");
    }
    f->sets = sets;
    f->n_sets = n;
    return 0;
}

static int verdict_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_firewall_verdict_cfg *f = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &f->enabled);
    if (strcmp(k, "model") == 0) {
        if (gw_cfg_str(c, v, k, &f->model) != 0)
            return -1;
        if (!*f->model)
            return gw_cfg_fail(c, v, k, "expected the name of a configured model");
        return 0;
    }
    if (strcmp(k, "on_error") == 0) {
        const char *a = gw_cfg_scalar(v);
        if (a && strcmp(a, "allow") == 0)
            f->on_error_block = 0;
        else if (a && strcmp(a, "block") == 0)
            f->on_error_block = 1;
        else
            return gw_cfg_fail(c, v, k, "expected allow or block");
        return 0;
    }
    if (strcmp(k, "cache_threshold") == 0) {
        if (gw_cfg_double(c, v, k, &f->cache_threshold) != 0)
            return -1;
        if (f->cache_threshold <= 0 || f->cache_threshold > 1)
            return gw_cfg_fail(c, v, k, "expected a similarity above 0 and at most 1");
        return 0;
    }
    if (strcmp(k, "max_cached") == 0)
        return gw_cfg_ll(c, v, k, 0, 10000000, &f->max_cached);
    if (strcmp(k, "prompt") == 0) {
        if (gw_cfg_str(c, v, k, &f->prompt) != 0)
            return -1;
        if (!*f->prompt)
            return gw_cfg_fail(c, v, k, "expected a non-empty instruction");
        return 0;
    }
    return gw_cfg_fail(c, v, k,
                       "unknown key in firewall.llm_verdict (enabled, model, on_error, "
                       "cache_threshold, max_cached, prompt)");
}

static int firewall_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_firewall_cfg *f = &c->cfg->firewall;
    size_t n;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &f->enabled);
    if (strcmp(k, "pattern_sets") == 0)
        return pattern_sets(c, v, k);
    if (strcmp(k, "exempt_keys") == 0)
        return gw_cfg_str_list(c, v, k, &f->exempt_keys, &n);
    if (strcmp(k, "llm_verdict") == 0) {
        if (gw_cfg_each(c, v, k, verdict_pair, &f->verdict) != 0)
            return -1;
        if (f->verdict.enabled && !f->verdict.model)
            return gw_cfg_fail(c, v, k, "an enabled llm_verdict needs a model");
        return 0;
    }
    return gw_cfg_fail(c, v, k,
                       "unknown key in firewall (enabled, pattern_sets, exempt_keys, llm_verdict)");
}

int gw_cfg_firewall(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key)
{
    return gw_cfg_each(c, v, key, firewall_pair, NULL);
}

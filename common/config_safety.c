/* The `pii:` and `output_guard:` sections of the configuration
 * (docs/safety.md), read with the shared readers (config-int.h), and their
 * defaults: both off; when PII scrubbing is switched on without a list, it
 * takes e-mail addresses, phone numbers and card numbers, and restores the
 * values in the answer. */
#include <string.h>

#include "config-int.h"
#include "pii.h"

void gw_cfg_safety_defaults(struct gw_config *cfg)
{
    cfg->pii = (struct gw_pii_cfg){.entities = GW_PII_DEFAULT_ENTITIES, .restore = 1};
    cfg->output_guard = (struct gw_output_guard_cfg){0};
}

/* entities: [email, phone, ...] or [all]; each name once. */
static int entities(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k, unsigned *out)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, v, k, "expected a list of entity names");
    unsigned mask = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = gw_cfg_node(c, *it);
        const char *name = gw_cfg_scalar(item);
        int t = name ? gw_pii_type_from_name(name) : -1;
        if (name && strcmp(name, "all") == 0) {
            mask |= GW_PII_ALL;
            continue;
        }
        if (t < 0)
            return gw_cfg_fail(c, item, k,
                               "unknown entity '%s' (email, phone, credit_card, ssn, iban, ip, "
                               "secret, all)",
                               name ? name : "(not a name)");
        if (mask & (1u << t))
            return gw_cfg_fail(c, item, k, "'%s' is listed twice", name);
        mask |= 1u << t;
    }
    *out = mask;
    return 0;
}

static int pii_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_pii_cfg *p = &c->cfg->pii;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &p->enabled);
    if (strcmp(k, "entities") == 0)
        return entities(c, v, k, &p->entities);
    if (strcmp(k, "restore") == 0)
        return gw_cfg_bool(c, v, k, &p->restore);
    return gw_cfg_fail(c, v, k, "unknown key in pii (enabled, entities, restore)");
}

static int guard_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_output_guard_cfg *g = &c->cfg->output_guard;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &g->enabled);
    if (strcmp(k, "blocked_patterns") == 0)
        return gw_cfg_str_list(c, v, k, &g->blocked_patterns, &g->n_blocked);
    return gw_cfg_fail(c, v, k, "unknown key in output_guard (enabled, blocked_patterns)");
}

int gw_cfg_safety(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key)
{
    return gw_cfg_each(c, v, key, strcmp(key, "pii") == 0 ? pii_pair : guard_pair, NULL);
}

/* The `prompts:` section of the configuration (the prompt library,
 * docs/prompts.md): its one switch, read with the shared readers
 * (config-int.h), and its default (on: a request that names no template
 * costs one header and one member lookup). */
#include <string.h>

#include "config-int.h"

void gw_cfg_prompts_defaults(struct gw_config *cfg)
{
    cfg->prompts = (struct gw_prompts_cfg){.enabled = 1};
}

static int prompts_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_prompts_cfg *p = &c->cfg->prompts;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &p->enabled);
    return gw_cfg_fail(c, v, k, "unknown key in prompts (enabled)");
}

int gw_cfg_prompts(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key)
{
    return gw_cfg_each(c, v, key, prompts_pair, NULL);
}

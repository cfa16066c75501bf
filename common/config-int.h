/* What the configuration's section parsers share (config.c and the
 * config_*.c files beside it): the parse context and the YAML readers, each
 * of which reports "FILE:LINE: key: message" into the context and returns
 * -1 on a bad value. Private to common/config*.c. */
#ifndef GW_CONFIG_INT_H
#define GW_CONFIG_INT_H

#include <stddef.h>
#include <yaml.h>

#include "config.h"

struct gw_cfg_ctx {
    yaml_document_t *doc;
    struct gw_config *cfg;
    const char *file;
    char *err;
    size_t errlen;
    const char **model_names; /* every model's name, while models are parsed */
    size_t n_model_names;
};

int gw_cfg_fail(struct gw_cfg_ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
yaml_node_t *gw_cfg_node(struct gw_cfg_ctx *c, int idx);
/* The text of a scalar node, NULL for any other node. */
const char *gw_cfg_scalar(const yaml_node_t *n);
/* Each copies into the config's arena and checks type and range. */
int gw_cfg_str(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char **out);
int gw_cfg_ll(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, long long min, long long max,
              long long *out);
int gw_cfg_int(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, int min, int max, int *out);
/* A non-negative number. */
int gw_cfg_double(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, double *out);
int gw_cfg_bool(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, int *out);
/* A list of non-empty strings, NULL-terminated, in the config's arena. */
int gw_cfg_str_list(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char ***out,
                    size_t *count);
/* Iterates a mapping: for each pair, calls fn(c, key, value, arg). */
typedef int (*gw_cfg_pair_fn)(struct gw_cfg_ctx *c, const char *key, yaml_node_t *val, void *arg);
int gw_cfg_each(struct gw_cfg_ctx *c, yaml_node_t *map, const char *what, gw_cfg_pair_fn fn,
                void *arg);
/* env:NAME or file:PATH; a secret in clear is refused. */
int gw_cfg_secret(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char **out);

/* config_cache.c: the cache: section, a model's cache: mapping, defaults. */
int gw_cfg_cache(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key);
int gw_cfg_model_cache(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key,
                       struct gw_model_cache *out);
void gw_cfg_cache_defaults(struct gw_config *cfg);

/* config_prompts.c: the prompts: section and its defaults. */
int gw_cfg_prompts(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key);
void gw_cfg_prompts_defaults(struct gw_config *cfg);

/* config_safety.c: the pii: and output_guard: sections and their defaults. */
int gw_cfg_safety(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key);
void gw_cfg_safety_defaults(struct gw_config *cfg);

/* config_firewall.c: the firewall: section and its defaults. */
int gw_cfg_firewall(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key);
void gw_cfg_firewall_defaults(struct gw_config *cfg);

/* config_rag.c: the rag: section, a model's rag: mapping, defaults. */
int gw_cfg_rag(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key);
int gw_cfg_model_rag(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key, struct gw_model_cfg *m);
void gw_cfg_rag_defaults(struct gw_config *cfg);

#endif

/* The `cache:` section of the configuration (the response cache,
 * docs/caching.md) and the `cache:` mapping a model may carry to override
 * it: parsing with the shared readers (config-int.h) and the defaults. */
#include <string.h>

#include "config-int.h"
#include "embed.h"

void gw_cfg_cache_defaults(struct gw_config *cfg)
{
    cfg->cache = (struct gw_cache_cfg){
        .enabled = 1,
        .ttl = 3600,
        .max_entries = 10000,
        .max_bytes = 64LL << 20,
        .db_max_bytes = 1LL << 30,
        .max_entry_bytes = 2LL << 20,
        .shared = 0,
        .semantic = {.enabled = 1,
                     .embedder = "local",
                     .threshold = GW_EMBED_LOCAL_DEFAULT_THRESHOLD},
    };
}

/* The provider embedder's default threshold: a provider's embeddings score
 * paraphrases higher than the local one (docs/semantic.md). */
#define PROVIDER_DEFAULT_THRESHOLD 0.90

/* cache.semantic while it is read: whether threshold was given, so that
 * the provider embedder's default applies only when it was not. */
struct semantic_read {
    struct gw_cache_semantic_cfg *s;
    int threshold_set;
};

static int semantic_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct semantic_read *rd = arg;
    struct gw_cache_semantic_cfg *s = rd->s;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &s->enabled);
    if (strcmp(k, "embedder") == 0) {
        if (gw_cfg_str(c, v, k, &s->embedder) != 0)
            return -1;
        if (strcmp(s->embedder, "local") == 0 || strcmp(s->embedder, "provider") == 0)
            return 0;
        return gw_cfg_fail(c, v, k, "expected local or provider, got '%s'", gw_cfg_scalar(v));
    }
    if (strcmp(k, "model") == 0) {
        if (gw_cfg_str(c, v, k, &s->model) != 0)
            return -1;
        if (!*s->model)
            return gw_cfg_fail(c, v, k, "expected the name of a configured model");
        return 0;
    }
    if (strcmp(k, "threshold") == 0) {
        if (gw_cfg_double(c, v, k, &s->threshold) != 0)
            return -1;
        if (s->threshold <= 0 || s->threshold > 1)
            return gw_cfg_fail(c, v, k, "a similarity above 0 and at most 1, got '%s'",
                               gw_cfg_scalar(v));
        rd->threshold_set = 1;
        return 0;
    }
    return gw_cfg_fail(c, v, k,
                       "unknown key in cache.semantic (enabled, embedder, model, threshold)");
}

/* cache.semantic: its keys, then what they need of each other. The model
 * being configured is checked when the config is installed (the cache
 * stage's setup), once every model is known. */
static int semantic_section(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k,
                            struct gw_cache_semantic_cfg *s)
{
    struct semantic_read rd = {s, 0};
    if (gw_cfg_each(c, v, k, semantic_pair, &rd) != 0)
        return -1;
    int provider = strcmp(s->embedder, "provider") == 0;
    if (provider && !s->model)
        return gw_cfg_fail(c, v, k, "embedder provider needs a model (an embeddings model)");
    if (!provider && s->model)
        return gw_cfg_fail(c, v, k, "model applies to embedder provider only");
    if (provider && !rd.threshold_set)
        s->threshold = PROVIDER_DEFAULT_THRESHOLD;
    return 0;
}

static int cache_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_cache_cfg *ca = &c->cfg->cache;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &ca->enabled);
    if (strcmp(k, "ttl") == 0)
        return gw_cfg_int(c, v, k, 1, 365 * 86400, &ca->ttl);
    if (strcmp(k, "max_entries") == 0)
        return gw_cfg_ll(c, v, k, 0, 100000000, &ca->max_entries);
    if (strcmp(k, "max_bytes") == 0)
        return gw_cfg_ll(c, v, k, 0, 1LL << 40, &ca->max_bytes);
    if (strcmp(k, "db_max_bytes") == 0)
        return gw_cfg_ll(c, v, k, 4096, 1LL << 44, &ca->db_max_bytes);
    if (strcmp(k, "max_entry_bytes") == 0)
        return gw_cfg_ll(c, v, k, 256, 1LL << 30, &ca->max_entry_bytes);
    if (strcmp(k, "shared") == 0)
        return gw_cfg_bool(c, v, k, &ca->shared);
    if (strcmp(k, "semantic") == 0)
        return semantic_section(c, v, k, &ca->semantic);
    return gw_cfg_fail(c, v, k,
                       "unknown key in cache (enabled, ttl, max_entries, max_bytes, db_max_bytes, "
                       "max_entry_bytes, shared, semantic)");
}

int gw_cfg_cache(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key)
{
    return gw_cfg_each(c, v, key, cache_pair, NULL);
}

static int model_cache_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_model_cache *m = arg;
    if (strcmp(k, "enabled") == 0) {
        int on = 0;
        if (gw_cfg_bool(c, v, k, &on) != 0)
            return -1;
        m->mode = on ? 1 : -1;
        return 0;
    }
    if (strcmp(k, "ttl") == 0)
        return gw_cfg_int(c, v, k, 1, 365 * 86400, &m->ttl);
    return gw_cfg_fail(c, v, k, "unknown key in a model's cache (enabled, ttl)");
}

int gw_cfg_model_cache(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key,
                       struct gw_model_cache *out)
{
    return gw_cfg_each(c, v, key, model_cache_pair, out);
}

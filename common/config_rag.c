/* The `rag:` section of the configuration (RAG context, docs/rag.md), a
 * model's `rag:` mapping, read with the shared readers (config-int.h), and
 * the defaults: off; 3 chunks of at least 0.30 similarity, at most 6000
 * characters of context; documents cut into chunks of about 1200 characters
 * with 200 of overlap.
 *
 *   rag:
 *     enabled: true
 *     top_k: 3
 *     threshold: 0.30
 *     max_context_chars: 6000
 *     chunk_chars: 1200
 *     chunk_overlap: 200
 *     keys: { support-bot: handbook, eval-harness: none }   # key name -> collection
 *   models:
 *     - name: gpt-4o-mini
 *       rag: { collection: handbook }
 *
 * A key's collection wins over its model's; `none` switches RAG off for the
 * key. Collection names: 1 to 64 letters, digits, '_', '-' or '.'. */
#include <string.h>

#include "arena.h"
#include "config-int.h"

void gw_cfg_rag_defaults(struct gw_config *cfg)
{
    cfg->rag = (struct gw_rag_cfg){.top_k = 3,
                                   .threshold = 0.30,
                                   .max_context_chars = 6000,
                                   .chunk_chars = 1200,
                                   .chunk_overlap = 200};
}

static int collection_name_ok(const char *s)
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

static int collection(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k, const char **out)
{
    if (gw_cfg_str(c, v, k, out) != 0)
        return -1;
    if (!collection_name_ok(*out))
        return gw_cfg_fail(
            c, v, k, "'%s': a collection name is 1 to 64 letters, digits, '_', '-' or '.'", *out);
    return 0;
}

static int keys(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k)
{
    struct gw_rag_cfg *g = &c->cfg->rag;
    if (v->type != YAML_MAPPING_NODE)
        return gw_cfg_fail(c, v, k, "expected a mapping of key names to collections");
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    g->keys = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *g->keys);
    if (!g->keys)
        return gw_cfg_fail(c, v, k, "out of memory");
    g->n_keys = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = gw_cfg_node(c, p->key);
        struct gw_rag_key *e = &g->keys[g->n_keys];
        if (gw_cfg_str(c, kn, k, &e->key_name) != 0 ||
            collection(c, gw_cfg_node(c, p->value), e->key_name, &e->collection) != 0)
            return -1;
        g->n_keys++;
    }
    return 0;
}

static int rag_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_rag_cfg *g = &c->cfg->rag;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &g->enabled);
    if (strcmp(k, "top_k") == 0)
        return gw_cfg_int(c, v, k, 1, 32, &g->top_k);
    if (strcmp(k, "threshold") == 0) {
        if (gw_cfg_double(c, v, k, &g->threshold) != 0)
            return -1;
        if (g->threshold > 1)
            return gw_cfg_fail(c, v, k, "expected a similarity from 0 to 1");
        return 0;
    }
    if (strcmp(k, "max_context_chars") == 0)
        return gw_cfg_ll(c, v, k, 100, 1000000, &g->max_context_chars);
    if (strcmp(k, "chunk_chars") == 0)
        return gw_cfg_int(c, v, k, 100, 100000, &g->chunk_chars);
    if (strcmp(k, "chunk_overlap") == 0)
        return gw_cfg_int(c, v, k, 0, 50000, &g->chunk_overlap);
    if (strcmp(k, "keys") == 0)
        return keys(c, v, k);
    return gw_cfg_fail(c, v, k,
                       "unknown key in rag (enabled, top_k, threshold, max_context_chars, "
                       "chunk_chars, chunk_overlap, keys)");
}

int gw_cfg_rag(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key)
{
    if (gw_cfg_each(c, v, key, rag_pair, NULL) != 0)
        return -1;
    if (c->cfg->rag.chunk_overlap * 2 > c->cfg->rag.chunk_chars)
        return gw_cfg_fail(c, v, key, "chunk_overlap must be at most half of chunk_chars");
    return 0;
}

static int model_rag_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_model_cfg *m = arg;
    if (strcmp(k, "collection") == 0)
        return collection(c, v, k, &m->rag_collection);
    return gw_cfg_fail(c, v, k, "unknown key in a model's rag (collection)");
}

int gw_cfg_model_rag(struct gw_cfg_ctx *c, yaml_node_t *v, const char *key, struct gw_model_cfg *m)
{
    return gw_cfg_each(c, v, key, model_rag_pair, m);
}

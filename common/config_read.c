/* The YAML readers every configuration section uses (config-int.h): typed
 * scalars with ranges, string lists, mapping iteration, secrets. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config-int.h"
int gw_cfg_fail(struct gw_cfg_ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%lu: %s: %s", c->file,
             n ? (unsigned long)n->start_mark.line + 1 : 0UL, key, msg);
    return -1;
}

yaml_node_t *gw_cfg_node(struct gw_cfg_ctx *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

const char *gw_cfg_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int gw_cfg_str(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char **out)
{
    const char *s = gw_cfg_scalar(n);
    if (!s)
        return gw_cfg_fail(c, n, key, "expected a string");
    *out = gw_arena_strdup(c->cfg->arena, s);
    return *out ? 0 : gw_cfg_fail(c, n, key, "out of memory");
}

int gw_cfg_ll(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, long long min, long long max,
              long long *out)
{
    const char *s = gw_cfg_scalar(n);
    char *end;
    if (!s || !*s)
        return gw_cfg_fail(c, n, key, "expected an integer");
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno)
        return gw_cfg_fail(c, n, key, "expected an integer, got '%s'", s);
    if (v < min || v > max)
        return gw_cfg_fail(c, n, key, "%lld is out of range [%lld, %lld]", v, min, max);
    *out = v;
    return 0;
}

int gw_cfg_int(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, int min, int max, int *out)
{
    long long v;
    if (gw_cfg_ll(c, n, key, min, max, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int gw_cfg_double(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, double *out)
{
    const char *s = gw_cfg_scalar(n);
    char *end;
    if (!s || !*s)
        return gw_cfg_fail(c, n, key, "expected a number");
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || v < 0)
        return gw_cfg_fail(c, n, key, "expected a non-negative number, got '%s'", s);
    *out = v;
    return 0;
}

int gw_cfg_bool(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, int *out)
{
    const char *s = gw_cfg_scalar(n);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0))
        *out = 1;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0))
        *out = 0;
    else
        return gw_cfg_fail(c, n, key, "expected true or false");
    return 0;
}

/* A list of non-empty strings, NULL-terminated, in the config's arena. */
int gw_cfg_str_list(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char ***out,
                    size_t *count)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, n, key, "expected a list of strings");
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    const char **list = gw_arena_calloc(c->cfg->arena, (k + 1) * sizeof *list);
    for (size_t i = 0; i < k; i++) {
        yaml_node_t *item = gw_cfg_node(c, n->data.sequence.items.start[i]);
        if (gw_cfg_str(c, item, key, &list[i]) != 0)
            return -1;
        if (!*list[i])
            return gw_cfg_fail(c, item, key, "empty strings are not allowed here");
    }
    *out = list;
    *count = k;
    return 0;
}

int gw_cfg_each(struct gw_cfg_ctx *c, yaml_node_t *map, const char *what, gw_cfg_pair_fn fn,
                void *arg)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return gw_cfg_fail(c, map, what, "expected a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = gw_cfg_node(c, p->key);
        const char *ks = gw_cfg_scalar(k);
        if (!ks)
            return gw_cfg_fail(c, k, what, "keys must be strings");
        if (fn(c, ks, gw_cfg_node(c, p->value), arg) != 0)
            return -1;
    }
    return 0;
}

int gw_cfg_secret(struct gw_cfg_ctx *c, yaml_node_t *n, const char *key, const char **out)
{
    const char *ref = gw_cfg_scalar(n);
    if (!ref)
        return gw_cfg_fail(c, n, key, "expected env:NAME or file:PATH");
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!v || !*v)
            return gw_cfg_fail(c, n, key, "environment variable %s is not set", ref + 4);
        *out = gw_arena_strdup(c->cfg->arena, v);
        return 0;
    }
    if (strncmp(ref, "file:", 5) == 0) {
        FILE *f = fopen(ref + 5, "r");
        if (!f)
            return gw_cfg_fail(c, n, key, "cannot read %s: %s", ref + 5, strerror(errno));
        char buf[4096];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            len--;
        if (len == 0)
            return gw_cfg_fail(c, n, key, "%s is empty", ref + 5);
        *out = gw_arena_strndup(c->cfg->arena, buf, len);
        return 0;
    }
    return gw_cfg_fail(c, n, key, "a secret is never written in clear: use env:NAME or file:PATH");
}

/* The semantic-matching evaluation (eval.h). The file format is described
 * at the top of pairs.tsv: label, category, question A, question B, tab
 * separated, with \t \n \\ escapes inside the questions. */
#include "eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "simcheck.h"

const char *gw_eval_default_path(void)
{
    const char *p = getenv("GW_CACHE_EVAL");
    return p && *p ? p : "tests/cache_eval/pairs.tsv";
}

static char *unescape(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[++i];
            o[k++] = c == 't' ? '\t' : c == 'n' ? '\n' : c;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = 0;
    return o;
}

int gw_eval_load(const char *path, struct gw_eval_set *set, char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    char line[4096];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        char *field[4];
        size_t nf = 0;
        char *p = line;
        while (nf < 4) {
            field[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = 0;
            p = tab + 1;
        }
        if (nf != 4 || strchr(field[3], '\t') ||
            (strcmp(field[0], "hit") != 0 && strcmp(field[0], "miss") != 0)) {
            snprintf(err, errlen, "%s:%d: want: hit|miss TAB category TAB question TAB question",
                     path, lineno);
            rc = -1;
            break;
        }
        if (set->n == cap) {
            cap = cap ? cap * 2 : 256;
            struct gw_eval_pair *np = realloc(set->p, cap * sizeof *np);
            if (!np) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            set->p = np;
        }
        struct gw_eval_pair *e = &set->p[set->n++];
        memset(e, 0, sizeof *e);
        e->hit = strcmp(field[0], "hit") == 0;
        e->category = strdup(field[1]);
        e->a = unescape(field[2], strlen(field[2]));
        e->b = unescape(field[3], strlen(field[3]));
        if (!e->category || !e->a || !e->b) {
            rc = -1;
            snprintf(err, errlen, "out of memory");
            break;
        }
        float va[GW_EMBED_LOCAL_DIM], vb[GW_EMBED_LOCAL_DIM];
        int ea = gw_embed_local(e->a, strlen(e->a), va);
        int eb = gw_embed_local(e->b, strlen(e->b), vb);
        if (ea < 0 || eb < 0) {
            rc = -1;
            snprintf(err, errlen, "out of memory");
            break;
        }
        e->cosine = (ea == 0 && eb == 0) ? gw_vec_dot(va, vb, GW_EMBED_LOCAL_DIM) : 0;
        e->verified = gw_simcheck(e->a, strlen(e->a), e->b, strlen(e->b), e->reason,
                                  sizeof e->reason) == GW_SIMCHECK_PASS;
    }
    fclose(f);
    if (rc == 0 && set->n == 0) {
        snprintf(err, errlen, "%s: no pairs", path);
        rc = -1;
    }
    if (rc < 0)
        gw_eval_free(set);
    return rc;
}

void gw_eval_free(struct gw_eval_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->p[i].category);
        free(set->p[i].a);
        free(set->p[i].b);
    }
    free(set->p);
    memset(set, 0, sizeof *set);
}

struct gw_eval_counts gw_eval_count(const struct gw_eval_set *set, double threshold, int verify,
                                    const char *cat)
{
    struct gw_eval_counts c = {0};
    for (size_t i = 0; i < set->n; i++) {
        const struct gw_eval_pair *e = &set->p[i];
        if (cat && strcmp(cat, e->category) != 0)
            continue;
        int pred = e->cosine >= threshold && (!verify || e->verified);
        if (pred && e->hit)
            c.tp++;
        else if (pred)
            c.fp++;
        else if (e->hit)
            c.fn++;
        else
            c.tn++;
    }
    return c;
}

double gw_eval_precision(struct gw_eval_counts c)
{
    return c.tp + c.fp ? (double)c.tp / (c.tp + c.fp) : 1.0;
}

double gw_eval_recall(struct gw_eval_counts c)
{
    return c.tp + c.fn ? (double)c.tp / (c.tp + c.fn) : 1.0;
}

double gw_eval_f1(struct gw_eval_counts c)
{
    double p = gw_eval_precision(c), r = gw_eval_recall(c);
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

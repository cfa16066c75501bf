/* Aho-Corasick: a trie of the (lower-cased) patterns, failure links computed
 * breadth-first, then every missing transition filled from the failure
 * state's, so scanning never follows a failure link: one lookup per byte,
 * whatever the patterns. Each state records the lowest pattern index that
 * ends there or at any of its failure ancestors. Memory: 1 KiB per trie node
 * (256 transitions), fine for the hundreds of phrases a policy lists. */
#include "acmatch.h"

#include <stdlib.h>
#include <string.h>

struct gw_ac {
    int (*next)[256]; /* transitions */
    int *out;         /* pattern ending here (lowest index), or -1 */
    int n_states;
};

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

struct gw_ac *gw_ac_build(const char *const *patterns, size_t n)
{
    size_t max_states = 1;
    for (size_t i = 0; i < n; i++)
        max_states += strlen(patterns[i]);
    struct gw_ac *ac = calloc(1, sizeof *ac);
    int *fail = calloc(max_states, sizeof *fail);
    int *queue = calloc(max_states, sizeof *queue);
    if (!ac || !fail || !queue)
        goto oom;
    ac->next = malloc(max_states * sizeof *ac->next);
    ac->out = malloc(max_states * sizeof *ac->out);
    if (!ac->next || !ac->out)
        goto oom;
    memset(ac->next, -1, max_states * sizeof *ac->next);
    for (size_t s = 0; s < max_states; s++)
        ac->out[s] = -1;
    ac->n_states = 1;
    for (size_t i = 0; i < n; i++) {
        int s = 0;
        for (const unsigned char *p = (const unsigned char *)patterns[i]; *p; p++) {
            unsigned char c = fold(*p);
            if (ac->next[s][c] < 0)
                ac->next[s][c] = ac->n_states++;
            s = ac->next[s][c];
        }
        if (s != 0 && (ac->out[s] < 0 || ac->out[s] > (int)i))
            ac->out[s] = (int)i;
    }
    /* breadth-first: failure links, inherited outputs, completed transitions */
    int head = 0, tail = 0;
    for (int c = 0; c < 256; c++) {
        int t = ac->next[0][c];
        if (t < 0) {
            ac->next[0][c] = 0;
        } else {
            fail[t] = 0;
            queue[tail++] = t;
        }
    }
    while (head < tail) {
        int s = queue[head++];
        int f = fail[s];
        if (ac->out[f] >= 0 && (ac->out[s] < 0 || ac->out[f] < ac->out[s]))
            ac->out[s] = ac->out[f];
        for (int c = 0; c < 256; c++) {
            int t = ac->next[s][c];
            if (t < 0) {
                ac->next[s][c] = ac->next[f][c];
            } else {
                fail[t] = ac->next[f][c];
                queue[tail++] = t;
            }
        }
    }
    free(fail);
    free(queue);
    return ac;
oom:
    free(fail);
    free(queue);
    gw_ac_free(ac);
    return NULL;
}

void gw_ac_free(struct gw_ac *ac)
{
    if (!ac)
        return;
    free(ac->next);
    free(ac->out);
    free(ac);
}

int gw_ac_feed(const struct gw_ac *ac, struct gw_ac_scan *scan, const char *text, size_t len)
{
    int s = scan->state;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++) {
        s = ac->next[s][fold(p[i])];
        if (ac->out[s] >= 0) {
            scan->state = s;
            return ac->out[s];
        }
    }
    scan->state = s;
    return -1;
}

/* The semantic-matching evaluation: loads the labelled pairs of
 * tests/cache_eval/pairs.tsv, embeds both questions with the local embedder
 * and runs the verification step once per pair, then counts TP/FP/FN/TN at
 * any threshold, with or without verification, overall or per category.
 * Used by tests/bench/semantic_bench.c (the table of `make bench-semantic`)
 * and by tests/unit/test_simcheck.c (the precision floor). */
#ifndef GW_CACHE_EVAL_H
#define GW_CACHE_EVAL_H

#include <stddef.h>

struct gw_eval_pair {
    int hit; /* label: 1 should hit, 0 must not */
    char *category;
    char *a, *b;      /* the questions, escapes decoded */
    float cosine;     /* local embedder, a vs b */
    int verified;     /* gw_simcheck(a, b) passed */
    char reason[160]; /* gw_simcheck's reason */
};

struct gw_eval_set {
    struct gw_eval_pair *p;
    size_t n;
};

struct gw_eval_counts {
    int tp, fp, fn, tn;
};

/* Loads and scores the file. Returns 0, or -1 with a message in err. Free
 * with gw_eval_free. */
int gw_eval_load(const char *path, struct gw_eval_set *set, char *err, size_t errlen);
void gw_eval_free(struct gw_eval_set *set);

/* Counts over the pairs whose category is cat (NULL: all). A pair is
 * predicted a hit when its cosine >= threshold and, with verify, its check
 * passed. */
struct gw_eval_counts gw_eval_count(const struct gw_eval_set *set, double threshold, int verify,
                                    const char *cat);

/* precision, recall, F1 of counts (1 when undefined: nothing predicted) */
double gw_eval_precision(struct gw_eval_counts c);
double gw_eval_recall(struct gw_eval_counts c);
double gw_eval_f1(struct gw_eval_counts c);

/* The file's path: $GW_CACHE_EVAL, else tests/cache_eval/pairs.tsv under
 * the working directory. */
const char *gw_eval_default_path(void);

#endif

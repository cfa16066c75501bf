/* The verification step (simcheck.h): both questions are analysed by
 * textnorm.c, then compared rule by rule, cheapest and most telling first,
 * and the first disagreement is the reason for the reject. Multisets are
 * compared by sorting both sides and walking them together; phrases are
 * compared as sorted lists of (preposition, words in order). Scratch arrays
 * are malloc'd and freed before returning. */
#include "simcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textnorm.h"

static void say(char *reason, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *reason, size_t n, const char *fmt, ...)
{
    if (!reason || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, n, fmt, ap);
    va_end(ap);
}

static int cmp_word(const void *x, const void *y)
{
    const struct gw_tword *a = *(const struct gw_tword *const *)x;
    const struct gw_tword *b = *(const struct gw_tword *const *)y;
    return strcmp(a->text, b->text);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Words of t whose kind is in the mask (1 << kind), into out. */
static size_t pick(const struct gw_text *t, unsigned kinds, const struct gw_tword **out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (kinds & (1u << t->w[i].kind))
            out[n++] = &t->w[i];
    return n;
}

/* Sorts both and finds the first item of each side missing from the other
 * (NULL when none). Returns 1 when the multisets differ. */
static int diff_words(const struct gw_tword **x, size_t nx, const struct gw_tword **y, size_t ny,
                      const struct gw_tword **only_x, const struct gw_tword **only_y)
{
    qsort(x, nx, sizeof *x, cmp_word);
    qsort(y, ny, sizeof *y, cmp_word);
    *only_x = *only_y = NULL;
    size_t i = 0, j = 0;
    while (i < nx || j < ny) {
        int c = i == nx ? 1 : j == ny ? -1 : strcmp(x[i]->text, y[j]->text);
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            if (!*only_x)
                *only_x = x[i];
            i++;
        } else {
            if (!*only_y)
                *only_y = y[j];
            j++;
        }
    }
    return *only_x || *only_y;
}

static int diff_strs(const char **x, size_t nx, const char **y, size_t ny, const char **only_x,
                     const char **only_y)
{
    qsort(x, nx, sizeof *x, cmp_str);
    qsort(y, ny, sizeof *y, cmp_str);
    *only_x = *only_y = NULL;
    size_t i = 0, j = 0;
    while (i < nx || j < ny) {
        int c = i == nx ? 1 : j == ny ? -1 : strcmp(x[i], y[j]);
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            if (!*only_x)
                *only_x = x[i];
            i++;
        } else {
            if (!*only_y)
                *only_y = y[j];
            j++;
        }
    }
    return *only_x || *only_y;
}

/* "'x' vs 'y'", "'x' only in the new question", "'y' only in the stored one" */
static void say_diff(char *reason, size_t n, const char *what, const char *x, const char *y)
{
    if (x && y)
        say(reason, n, "%s differ: '%.40s' vs '%.40s'", what, x, y);
    else if (x)
        say(reason, n, "%s differ: '%.40s' only in the new question", what, x);
    else
        say(reason, n, "%s differ: '%.40s' only in the stored question", what, y ? y : "");
}

/* Every entity of t is one of o's words. Returns the first that is not. */
static const char *missing_entity(const struct gw_text *t, const struct gw_text *o)
{
    for (size_t i = 0; i < t->n_entities; i++) {
        size_t j = 0;
        while (j < o->n_raw && strcmp(o->raw[j], t->entities[i]) != 0)
            j++;
        if (j == o->n_raw)
            return t->entities[i];
    }
    return NULL;
}

static const char *tense_name(unsigned aux)
{
    if (aux & GW_AUX_PAST)
        return aux & GW_AUX_FUTURE ? "past and future" : "past";
    return aux & GW_AUX_FUTURE ? "future" : "present";
}

static const char *modal_name(unsigned aux)
{
    if (aux & GW_AUX_CAN)
        return "can";
    if (aux & GW_AUX_SHOULD)
        return "should";
    if (aux & GW_AUX_MUST)
        return "must";
    if (aux & GW_AUX_MAY)
        return "may";
    return "none";
}

static const char *person_name(unsigned p)
{
    return p == GW_PERSON_FIRST ? "I/we" : p == GW_PERSON_SECOND ? "you" : "I/we and you";
}

/* A phrase: the preposition that opens it ("" after punctuation or at the
 * start) and its words, in order. */
struct phrase {
    const char *label;
    const struct gw_tword *w;
    size_t n;
};

static int cmp_phrase(const void *x, const void *y)
{
    const struct phrase *a = x, *b = y;
    int c = strcmp(a->label, b->label);
    if (c)
        return c;
    for (size_t i = 0; i < a->n && i < b->n; i++)
        if ((c = strcmp(a->w[i].text, b->w[i].text)) != 0)
            return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

static size_t phrases(const struct gw_text *t, struct phrase *out)
{
    size_t n = 0;
    const char *label = "";
    size_t start = 0;
    for (size_t i = 0; i <= t->n; i++) {
        int end = i == t->n || t->w[i].kind == GW_TW_MARKER || t->w[i].kind == GW_TW_BREAK;
        if (!end)
            continue;
        if (i > start)
            out[n++] = (struct phrase){.label = label, .w = &t->w[start], .n = i - start};
        if (i < t->n)
            label = t->w[i].kind == GW_TW_MARKER ? t->w[i].text : "";
        start = i + 1;
    }
    return n;
}

static int same_raw(const struct gw_text *a, const struct gw_text *b)
{
    if (a->n_raw != b->n_raw)
        return 0;
    for (size_t i = 0; i < a->n_raw; i++)
        if (strcmp(a->raw[i], b->raw[i]) != 0)
            return 0;
    return 1;
}

static int same_quotes(const struct gw_text *a, const struct gw_text *b)
{
    if (a->n_quotes != b->n_quotes)
        return 0;
    for (size_t i = 0; i < a->n_quotes; i++)
        if (strcmp(a->quotes[i], b->quotes[i]) != 0)
            return 0;
    return 1;
}

#define K(kind) (1u << (kind))

int gw_simcheck_texts(const struct gw_text *a, const struct gw_text *b, char *reason,
                      size_t reasonlen)
{
    int rc = GW_SIMCHECK_REJECT;
    const struct gw_tword **x = NULL, **y = NULL, *ox, *oy;
    struct phrase *pa = NULL, *pb = NULL;
    const char **qa = NULL, **qb = NULL, *sx, *sy;

    enum gw_tw_script sa = gw_text_script(a), sb = gw_text_script(b);
    if (sa != GW_SCRIPT_NONE && sb != GW_SCRIPT_NONE && sa != sb) {
        say(reason, reasonlen, "writing system differs: %s vs %s", gw_text_script_name(sa),
            gw_text_script_name(sb));
        return rc;
    }
    enum gw_tw_lang la = gw_text_lang(a), lb = gw_text_lang(b);
    if (la != GW_LANG_UNKNOWN && lb != GW_LANG_UNKNOWN && la != lb) {
        say(reason, reasonlen, "language differs: %s vs %s", gw_text_lang_name(la),
            gw_text_lang_name(lb));
        return rc;
    }
    if (a->n_content == 0 || b->n_content == 0) {
        if (a->n_content == b->n_content && same_raw(a, b) && same_quotes(a, b)) {
            say(reason, reasonlen, "same words (no content words)");
            return GW_SIMCHECK_PASS;
        }
        say(reason, reasonlen, "%s",
            a->n_content == b->n_content ? "no content words, and the wording differs"
                                         : "content words on one side only");
        return rc;
    }

    x = malloc((a->n + 1) * sizeof *x);
    y = malloc((b->n + 1) * sizeof *y);
    pa = malloc((a->n + 1) * sizeof *pa);
    pb = malloc((b->n + 1) * sizeof *pb);
    qa = malloc((a->n_quotes + 1) * sizeof *qa);
    qb = malloc((b->n_quotes + 1) * sizeof *qb);
    if (!x || !y || !pa || !pb || !qa || !qb) {
        say(reason, reasonlen, "out of memory");
        rc = -1;
        goto out;
    }

    size_t nx = pick(a, K(GW_TW_NUMBER), x), ny = pick(b, K(GW_TW_NUMBER), y);
    if (diff_words(x, nx, y, ny, &ox, &oy)) {
        say_diff(reason, reasonlen, "numbers", ox ? ox->text : NULL, oy ? oy->text : NULL);
        goto out;
    }
    if (a->negations != b->negations) {
        say(reason, reasonlen, "negation differs: %d in the new question, %d in the stored one",
            a->negations, b->negations);
        goto out;
    }
    const unsigned tense = GW_AUX_PAST | GW_AUX_FUTURE;
    if ((a->aux & tense) != (b->aux & tense)) {
        say(reason, reasonlen, "tense differs: %s vs %s", tense_name(a->aux), tense_name(b->aux));
        goto out;
    }
    const unsigned modal = GW_AUX_CAN | GW_AUX_SHOULD | GW_AUX_MUST | GW_AUX_MAY;
    if ((a->aux & modal) != (b->aux & modal)) {
        say(reason, reasonlen, "modal verb differs: %s vs %s", modal_name(a->aux & ~(b->aux)),
            modal_name(b->aux & ~(a->aux)));
        goto out;
    }
    if (a->person && b->person && a->person != b->person) {
        say(reason, reasonlen, "person differs: %s vs %s", person_name(a->person),
            person_name(b->person));
        goto out;
    }
    if (a->n_quotes)
        memcpy(qa, a->quotes, a->n_quotes * sizeof *qa);
    if (b->n_quotes)
        memcpy(qb, b->quotes, b->n_quotes * sizeof *qb);
    if (diff_strs(qa, a->n_quotes, qb, b->n_quotes, &sx, &sy)) {
        say_diff(reason, reasonlen, "quoted texts", sx, sy);
        goto out;
    }
    if ((sx = missing_entity(a, b)) != NULL) {
        say(reason, reasonlen, "name '%.40s' is not in the stored question", sx);
        goto out;
    }
    if ((sy = missing_entity(b, a)) != NULL) {
        say(reason, reasonlen, "name '%.40s' is not in the new question", sy);
        goto out;
    }
    nx = pick(a, K(GW_TW_MARKER), x);
    ny = pick(b, K(GW_TW_MARKER), y);
    if (diff_words(x, nx, y, ny, &ox, &oy)) {
        say_diff(reason, reasonlen, "prepositions", ox ? ox->text : NULL, oy ? oy->text : NULL);
        goto out;
    }
    nx = pick(a, K(GW_TW_CONTENT) | K(GW_TW_NEGATION), x);
    ny = pick(b, K(GW_TW_CONTENT) | K(GW_TW_NEGATION), y);
    if (diff_words(x, nx, y, ny, &ox, &oy)) {
        unsigned f = (ox ? ox->flags : 0) | (oy ? oy->flags : 0);
        const char *what = (f & GW_TWF_WH)            ? "question words"
                           : (f & GW_TWF_COMPARATIVE) ? "comparatives"
                           : (f & GW_TWF_QUANTIFIER)  ? "quantifiers"
                           : (f & GW_TWF_CODE)        ? "identifiers"
                                                      : "words";
        /* name surface forms: the canonical ones may be stems */
        say_diff(reason, reasonlen, what, ox ? ox->raw : NULL, oy ? oy->raw : NULL);
        goto out;
    }
    size_t na = phrases(a, pa), nb = phrases(b, pb);
    qsort(pa, na, sizeof *pa, cmp_phrase);
    qsort(pb, nb, sizeof *pb, cmp_phrase);
    int same = na == nb;
    for (size_t i = 0; same && i < na; i++)
        same = cmp_phrase(&pa[i], &pb[i]) == 0;
    if (!same) {
        say(reason, reasonlen, "word order differs (who does what to whom, from/to)");
        goto out;
    }
    say(reason, reasonlen, "same content words, numbers, names and negations");
    rc = GW_SIMCHECK_PASS;
out:
    free(x);
    free(y);
    free(pa);
    free(pb);
    free(qa);
    free(qb);
    return rc;
}

int gw_simcheck(const char *a, size_t alen, const char *b, size_t blen, char *reason,
                size_t reasonlen)
{
    struct gw_text ta, tb;
    int ra = gw_text_analyse(a, alen, &ta);
    int rb = gw_text_analyse(b, blen, &tb);
    int rc;
    if (ra < 0 || rb < 0) {
        say(reason, reasonlen, "out of memory");
        rc = -1;
    } else {
        rc = gw_simcheck_texts(&ta, &tb, reason, reasonlen);
    }
    gw_text_free(&ta);
    gw_text_free(&tb);
    return rc;
}

/* The word lists of textnorm.c, private to it and to textnorm_lex.c: one
 * sorted lexicon of function words (what each is), the units a number may
 * carry, irregular plurals and synonyms, words ending in s that are not
 * plurals, filler phrases and the verbs that make "can you ..." a request.
 * Every lookup is a binary search; gw_text_selfcheck (textnorm.h) checks
 * that the tables are sorted. */
#ifndef GW_TEXTNORM_INT_H
#define GW_TEXTNORM_INT_H

#include <stddef.h>

/* What a lexicon word is (bits). */
enum gw_tlex_class {
    GW_TL_STOP = 1 << 0,    /* dropped */
    GW_TL_AUX = 1 << 1,     /* an auxiliary: val holds enum gw_tw_aux bits */
    GW_TL_NEG = 1 << 2,     /* negation */
    GW_TL_MARKER = 1 << 3,  /* preposition opening a phrase */
    GW_TL_WH = 1 << 4,      /* question word */
    GW_TL_QUANT = 1 << 5,   /* quantifier */
    GW_TL_COMP = 1 << 6,    /* comparative or superlative */
    GW_TL_INFTO = 1 << 7,   /* a "to" after it is an infinitive's (dropped) */
    GW_TL_NUM = 1 << 8,     /* number word: val */
    GW_TL_ORD = 1 << 9,     /* ordinal word: val */
    GW_TL_MULT = 1 << 10,   /* hundred, thousand...: val */
    GW_TL_ISBASE = 1 << 11, /* X's means "X is" (it's, what's), not a possessive */
    GW_TL_P1 = 1 << 12,     /* first person: I, me, my, we, us, our */
    GW_TL_P2 = 1 << 13,     /* second person: you, your */
    GW_TL_META = 1 << 14,   /* a question about words: compare surface forms */
    GW_TL_EN = 1 << 15,     /* function word of a language (votes) */
    GW_TL_FR = 1 << 16,
    GW_TL_DE = 1 << 17,
    GW_TL_ES = 1 << 18,
    GW_TL_IT = 1 << 19,
    GW_TL_PT = 1 << 20,
    GW_TL_NL = 1 << 21,
};

struct gw_tlex {
    const char *w;
    unsigned cls;
    long long val;
};

struct gw_tpair {
    const char *w, *to;
};

/* The lexicon entry of a lower-case word, or NULL; its class bits, or 0. */
const struct gw_tlex *gw_tlex_find(const char *w);
unsigned gw_tlex_cls(const char *w);
/* The canonical unit of a unit word after a number ("kilometres" -> "km"). */
const char *gw_tlex_unit(const char *w);
/* The canonical word of an irregular plural or a synonym ("mice" ->
 * "mouse", "movie" -> "film"), or NULL. */
const char *gw_tlex_canon(const char *w);
/* 1 when w ends in s but is no plural (news, series). */
int gw_tlex_not_plural(const char *w);
/* 1 when "can you W" asks for something (tell, explain, write...). */
int gw_tlex_request_verb(const char *w);

/* Filler phrases, space-separated words. */
extern const char *const gw_tlex_fillers[];
extern const size_t gw_tlex_n_fillers;

#endif

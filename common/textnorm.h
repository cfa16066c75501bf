/* The words of a question, as the semantic cache sees them: UTF-8 text split
 * into words, lowercased, English contractions expanded, filler phrases and
 * function words dropped, numbers (digits or number words) joined with their
 * unit, light plural stemming and a short synonym list applied. The local
 * embedder (embed.c) hashes the result; the verification step (simcheck.c)
 * compares two of them. See docs/semantic.md for the rules.
 *
 * Deterministic: no locale, no random seed, no table built at run time. */
#ifndef GW_TEXTNORM_H
#define GW_TEXTNORM_H

#include <stddef.h>
#include <stdint.h>

struct gw_arena;

/* What a kept word is. Function and filler words are not kept. */
enum gw_tw_kind {
    GW_TW_CONTENT,  /* a content word (noun, verb, adjective, name, code...) */
    GW_TW_NUMBER,   /* a number with its unit: "5 km", "15 %", "10 th", "2024" */
    GW_TW_NEGATION, /* not, no, never, none, nothing, nobody, neither, nor */
    GW_TW_MARKER,   /* a preposition that opens a phrase: in, to, from, than... */
    GW_TW_BREAK,    /* punctuation that ends a phrase: , ; : . ? ! ( ) */
};

enum gw_tw_flag {
    GW_TWF_ENTITY = 1,      /* capitalised inside a sentence, or an acronym */
    GW_TWF_CODE = 2,        /* an identifier: os.path, std::vector, sorted(), -r, utf-8 */
    GW_TWF_WH = 4,          /* how, why, when, where, who, whom, whose */
    GW_TWF_COMPARATIVE = 8, /* bigger, best, more, least... */
    GW_TWF_QUANTIFIER = 16, /* all, some, any, every, few, many... */
    GW_TWF_NEGATING = 32,   /* a marker that negates: without */
};

/* Writing systems, for the language check. */
enum gw_tw_script {
    GW_SCRIPT_NONE = 0,
    GW_SCRIPT_LATIN,
    GW_SCRIPT_GREEK,
    GW_SCRIPT_CYRILLIC,
    GW_SCRIPT_ARMENIAN,
    GW_SCRIPT_HEBREW,
    GW_SCRIPT_ARABIC,
    GW_SCRIPT_INDIC,
    GW_SCRIPT_THAI,
    GW_SCRIPT_HANGUL,
    GW_SCRIPT_KANA,
    GW_SCRIPT_HAN,
    GW_SCRIPT_OTHER,
    GW_SCRIPT_N
};

/* Latin-script languages told apart by their function words. */
enum gw_tw_lang {
    GW_LANG_UNKNOWN = 0,
    GW_LANG_EN,
    GW_LANG_FR,
    GW_LANG_DE,
    GW_LANG_ES,
    GW_LANG_IT,
    GW_LANG_PT,
    GW_LANG_NL,
    GW_LANG_N
};

/* Tense and modality, read from the auxiliaries that are otherwise dropped. */
enum gw_tw_aux {
    GW_AUX_PAST = 1,   /* was, were, did, had */
    GW_AUX_FUTURE = 2, /* will, shall, 'll */
    GW_AUX_CAN = 4,    /* can, could (not after "how": "how can I" = "how do I") */
    GW_AUX_SHOULD = 8, /* should, ought */
    GW_AUX_MUST = 16,  /* must */
    GW_AUX_MAY = 32,   /* may, might */
};

/* Grammatical person of the pronouns that are otherwise dropped. */
enum gw_tw_person {
    GW_PERSON_FIRST = 1,  /* I, me, my, we, us, our */
    GW_PERSON_SECOND = 2, /* you, your */
};

struct gw_tword {
    const char *text; /* canonical form: what is hashed and compared */
    const char *raw;  /* lowercased surface form */
    uint8_t kind;     /* enum gw_tw_kind */
    uint8_t flags;    /* enum gw_tw_flag */
};

struct gw_text {
    struct gw_tword *w; /* the kept words in order, breaks included */
    size_t n;
    size_t n_content; /* words of kind CONTENT, NUMBER or NEGATION */
    const char **raw; /* every word, lowercased, contractions expanded */
    size_t n_raw;
    const char **entities; /* lowercased entity words */
    size_t n_entities;
    const char **quotes; /* quoted spans, whitespace collapsed; `code` keeps
                            its case and starts with '`', others lowercased */
    size_t n_quotes;
    unsigned aux;                    /* enum gw_tw_aux bits */
    unsigned person;                 /* enum gw_tw_person bits */
    int negations;                   /* negation words, "without" included */
    int script_letters[GW_SCRIPT_N]; /* letters per script */
    int lang_votes[GW_LANG_N];       /* function words per language */
    struct gw_arena *arena;          /* owns everything above */
};

/* Words kept at most: longer texts are cut (the rest is ignored). */
#define GW_TEXT_MAX_WORDS 4096

/* Analyses text[0..len) (any bytes; invalid UTF-8 is a separator). Returns 0,
 * or -1 when memory runs out. The result owns its memory: free it with
 * gw_text_free (also after a failure). */
int gw_text_analyse(const char *text, size_t len, struct gw_text *out);
void gw_text_free(struct gw_text *t);

/* The text's writing system (most letters) and language guess (Latin
 * scripts only; GW_LANG_UNKNOWN unless one language has more function words
 * than any other). */
enum gw_tw_script gw_text_script(const struct gw_text *t);
enum gw_tw_lang gw_text_lang(const struct gw_text *t);
const char *gw_text_script_name(enum gw_tw_script s);
const char *gw_text_lang_name(enum gw_tw_lang l);

/* 0 when the built-in word tables are sorted as lookups need (tests). */
int gw_text_selfcheck(void);

#endif

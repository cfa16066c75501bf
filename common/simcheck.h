/* The verification step of semantic matching: given a new question and a
 * stored one whose vectors are close, decides whether the stored answer may
 * be served. Embeddings of every kind rate "capital of France" and "capital
 * of Germany" as close; this check does not. It is strict on purpose
 * (precision first, recall second). The two questions must agree on
 *
 *   1. writing system and, for Latin scripts, the language guessed from
 *      function words (en, fr, de, es, it, pt, nl);
 *   2. numbers, digits or words, with their unit ("5 km" != "5 miles",
 *      "five" == "5", "$100" == "100 dollars", "first" == "1st");
 *   3. the number of negations (not, n't, no, never, without...);
 *   4. tense (was/did/had, will), modality (can, should, must, may) and,
 *      when both have one, the person of the pronouns ("How old are you?"
 *      != "How old am I?", but "How do I..." == "How to...");
 *   5. quoted text (`code` with its case);
 *   6. named entities: every capitalised word or acronym of one appears in
 *      the other;
 *   7. prepositions, and content words after light stemming and a short
 *      synonym list: the two multisets must be equal (a question word, a
 *      comparative, a quantifier, "and"/"or", an operator such as + or <
 *      is a content word; a question about words, "the plural of mouse",
 *      compares surface forms);
 *   8. the phrases: cut at prepositions and punctuation, each phrase keeps
 *      its word order ("from Paris to London" != "from London to Paris",
 *      "Alice called Bob" != "Bob called Alice"), but phrases may move ("In
 *      Python, how do I..." == "How do I ... in Python?").
 *
 * When neither side has a content word ("hi", "thanks!"), the two must have
 * exactly the same words. See docs/semantic.md for examples and the
 * measured precision. Reentrant; no state. */
#ifndef GW_SIMCHECK_H
#define GW_SIMCHECK_H

#include <stddef.h>

struct gw_text;

enum gw_simcheck_verdict {
    GW_SIMCHECK_REJECT = 0,
    GW_SIMCHECK_PASS = 1,
};

/* Compares the new question a[0..alen) with the stored question b[0..blen).
 * Returns GW_SIMCHECK_PASS or GW_SIMCHECK_REJECT, or -1 when memory runs
 * out (treat as a reject). When reason is not NULL, a short NUL-terminated
 * explanation for logs and `gwctl` is written to reason[0..reasonlen), e.g.
 * "words differ: 'germany' vs 'france'" (the new question's side first). */
int gw_simcheck(const char *a, size_t alen, const char *b, size_t blen, char *reason,
                size_t reasonlen);

/* The same on texts already analysed with gw_text_analyse (textnorm.h), so
 * a new question analysed once can be checked against several candidates. */
int gw_simcheck_texts(const struct gw_text *a, const struct gw_text *b, char *reason,
                      size_t reasonlen);

#endif

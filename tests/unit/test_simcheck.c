/* Unit tests of common/simcheck.c, the verification step: "capital of
 * France" never passes for "capital of Germany"; each near-duplicate kind
 * the local embedder claims passes; each rule rejects with its own reason
 * (numbers and units, negation, tense, modality, person, language and
 * script, names, quotes, prepositions, content words, phrase order); the
 * verdict is symmetric; the reason buffer may be small or absent; and on
 * the evaluation set (tests/cache_eval/pairs.tsv, read from the working
 * directory or $GW_CACHE_EVAL) precision at the default threshold is at
 * least 0.99 with at least 200 pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../cache_eval/eval.c"
#include "embed.h"
#include "simcheck.h"
#include "textnorm.h"

static int check(const char *a, const char *b, char *reason, size_t n)
{
    return gw_simcheck(a, strlen(a), b, strlen(b), reason, n);
}

static void test_france_germany(void **state)
{
    char r[160];
    assert_int_equal(
        check("What is the capital of France?", "What is the capital of Germany?", r, sizeof r),
        GW_SIMCHECK_REJECT);
    assert_non_null(strstr(r, "france"));
    assert_int_equal(
        check("what is the capital of france", "what is the capital of germany", r, sizeof r),
        GW_SIMCHECK_REJECT);
    assert_string_equal(r, "words differ: 'france' vs 'germany'");
}

static void test_passes(void **state)
{
    static const char *const pairs[][2] = {
        {"What is the capital of France?", "what is the capital of france"},
        {"WHEN DID WORLD WAR II END?", "When did World War II end?"},
        {"What Is The Boiling Point Of Water?", "What is the boiling point of water?"},
        {"Who wrote Hamlet?!", "Who wrote Hamlet"},
        {"What's the capital of France?", "What is the capital of France?"},
        {"Why can't I divide by zero?", "Why cannot I divide by zero?"},
        {"Can you tell me what the capital of France is?", "What is the capital of France?"},
        {"I was wondering, who wrote Moby Dick?", "Who wrote Moby Dick?"},
        {"Could you please explain what DNS is?", "What is DNS?"},
        {"In Python, how do I reverse a list?", "How do I reverse a list in Python?"},
        {"How can I center a div?", "How do I center a div?"},
        {"How do I reverse a list?", "How to reverse a list?"},
        {"Are cats mammals?", "Is a cat a mammal?"},
        {"How do I buy a car?", "How do I purchase an automobile?"},
        {"What is 15% of 80?", "What is 15 percent of 80?"},
        {"Convert 100 dollars to euros", "Convert $100 to euros"},
        {"Is 1,000 a perfect cube?", "Is 1000 a perfect cube?"},
        {"What is twenty-five times four?", "What is 25 times 4?"},
        {"Who was the 1st president?", "Who was the first president?"},
        {"What is 2+2?", "What is 2 plus 2?"},
        {"hello", "Hello!"},
        {"What is the difference between a virus and a bacterium?",
         "What is the difference between a virus, and a bacterium?"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char r[160];
        if (check(pairs[i][0], pairs[i][1], r, sizeof r) != GW_SIMCHECK_PASS)
            fail_msg("rejected \"%s\" / \"%s\": %s", pairs[i][0], pairs[i][1], r);
    }
}

static void test_rejects(void **state)
{
    static const char *const cases[][3] = {
        /* new question, stored question, start of the reason */
        {"What is 15% of 80?", "What is 15% of 90?", "numbers differ"},
        {"How far is 5 km?", "How far is 5 miles?", "numbers differ"},
        {"What is five times seven?", "What is six times seven?", "numbers differ"},
        {"Who was the first president?", "Who was the second president?", "numbers differ"},
        {"How do I install Python 3.11?", "How do I install Python 3.12?", "numbers differ"},
        {"Is -5 degrees cold?", "Is 5 degrees cold?", "numbers differ"},
        {"Can dogs eat grapes?", "Can't dogs eat grapes?", "negation differs"},
        {"How do I make bread with yeast?", "How do I make bread without yeast?",
         "negation differs"},
        {"Who is the CEO of Twitter?", "Who was the CEO of Twitter?", "tense differs"},
        {"What is the tallest building?", "What will be the tallest building?", "tense differs"},
        {"Can I eat raw eggs?", "Should I eat raw eggs?", "modal verb differs"},
        {"How old are you?", "How old am I?", "person differs"},
        {"What is the capital of France?", "Quelle est la capitale de la France ?",
         "language differs"},
        {"Moscow weather", "Погода в Москве", "writing system differs"},
        {"Why does `myVar` fail?", "Why does `myvar` fail?", "quoted texts differ"},
        {"Translate 'good morning' to French", "Translate 'good night' to French",
         "quoted texts differ"},
        {"Who is the CEO of Apple?", "Who is the CEO of Microsoft?", "name 'apple'"},
        {"Can you ship to the US?", "Can you ship to us?", "person differs"},
        {"How do I open a bank account?", "How do I close a bank account?", "words differ"},
        {"What is the biggest planet?", "What is the smallest planet?", "comparatives differ"},
        {"Why is the sky blue?", "When is the sky blue?", "question words differ"},
        {"Are all birds able to fly?", "Are some birds able to fly?", "quantifiers differ"},
        {"What does os.path.join do?", "What does os.path.split do?", "identifiers differ"},
        {"Cheap hotels in Paris", "Hotels in Paris", "words differ: 'cheap' only in the new"},
        {"Hotels in Paris", "Cheap hotels in Paris", "words differ: 'cheap' only in the stored"},
        {"Can I use my phone on a plane?", "Can I use my phone in a plane?", "prepositions differ"},
        {"Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius", "word order differs"},
        {"Did Alice call Bob?", "Did Bob call Alice?", "word order differs"},
        {"Is 5 greater than 3?", "Is 3 greater than 5?", "word order differs"},
        {"Is a tomato a fruit and a vegetable?", "Is a tomato a fruit or a vegetable?",
         "words differ"},
        {"What is the plural of mouse?", "What is the plural of mice?", "words differ"},
        {"What is 2+2?", "What is 2*2?", "words differ"},
        {"hi", "thanks!", "no content words"},
        {"hi", "What is DNS?", "content words on one side only"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char r[160];
        int v = check(cases[i][0], cases[i][1], r, sizeof r);
        if (v != GW_SIMCHECK_REJECT)
            fail_msg("passed \"%s\" / \"%s\"", cases[i][0], cases[i][1]);
        if (strncmp(r, cases[i][2], strlen(cases[i][2])) != 0)
            fail_msg("\"%s\" / \"%s\": reason \"%s\", want \"%s...\"", cases[i][0], cases[i][1], r,
                     cases[i][2]);
    }
}

static void test_reason_buffer(void **state)
{
    const char *a = "What is the capital of France?", *b = "What is the capital of Germany?";
    assert_int_equal(gw_simcheck(a, strlen(a), b, strlen(b), NULL, 0), GW_SIMCHECK_REJECT);
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(gw_simcheck(a, strlen(a), b, strlen(b), small, sizeof small),
                     GW_SIMCHECK_REJECT);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(gw_simcheck(NULL, 0, NULL, 0, small, sizeof small), GW_SIMCHECK_PASS);
}

/* Found by fuzz_semantic: invalid UTF-8 inside a quote grows to U+FFFD
 * (three bytes for one) and overflowed the quote's buffer, so a text did
 * not match itself. */
static void test_quote_invalid_utf8(void **state)
{
    const char t[] = "t* `\xb0\xff\xff`\xd0]\xba\xbd\xff\xff`\xd0 doll\xe7"
                     "ars?";
    assert_int_equal(gw_simcheck(t, sizeof t - 1, t, sizeof t - 1, NULL, 0), GW_SIMCHECK_PASS);
    struct gw_text a;
    assert_int_equal(gw_text_analyse(t, sizeof t - 1, &a), 0);
    assert_int_equal(a.n_quotes, 1);
    assert_string_equal(a.quotes[0], "`\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    gw_text_free(&a);
    /* and quotes without words: "\0" is no word, but the quotes count */
    const char q[] = "\"\x01\x02\" \"\x03\"";
    assert_int_equal(gw_simcheck(q, sizeof q - 1, q, sizeof q - 1, NULL, 0), GW_SIMCHECK_PASS);
    const char q2[] = "\"\x01\x02\" \"\x04\"";
    assert_int_equal(gw_simcheck(q, sizeof q - 1, q2, sizeof q2 - 1, NULL, 0), GW_SIMCHECK_REJECT);
}

static void test_texts_api(void **state)
{
    const char *q = "Hey, what's the capital of France?";
    const char *cands[] = {"What is the capital of Germany?", "What is the capital of France?",
                           "What was the capital of France?"};
    struct gw_text tq;
    assert_int_equal(gw_text_analyse(q, strlen(q), &tq), 0);
    int want[] = {GW_SIMCHECK_REJECT, GW_SIMCHECK_PASS, GW_SIMCHECK_REJECT};
    for (int i = 0; i < 3; i++) {
        struct gw_text tc;
        assert_int_equal(gw_text_analyse(cands[i], strlen(cands[i]), &tc), 0);
        assert_int_equal(gw_simcheck_texts(&tq, &tc, NULL, 0), want[i]);
        gw_text_free(&tc);
    }
    gw_text_free(&tq);
}

static struct gw_eval_set set;

static int load_set(void **state)
{
    char err[256];
    if (gw_eval_load(gw_eval_default_path(), &set, err, sizeof err) < 0) {
        fprintf(stderr, "test_simcheck: %s (run from the repository root)\n", err);
        return -1;
    }
    return 0;
}

static int free_set(void **state)
{
    gw_eval_free(&set);
    return 0;
}

static void test_eval_precision(void **state)
{
    assert_true(set.n >= 200);
    int hits = 0;
    for (size_t i = 0; i < set.n; i++)
        hits += set.p[i].hit;
    assert_true(hits >= 80 && set.n - (size_t)hits >= 80); /* both labels well represented */
    struct gw_eval_counts c = gw_eval_count(&set, GW_EMBED_LOCAL_DEFAULT_THRESHOLD, 1, NULL);
    double p = gw_eval_precision(c), r = gw_eval_recall(c);
    if (p < 0.99)
        fail_msg("precision %.3f < 0.99 (TP %d FP %d)", p, c.tp, c.fp);
    /* recall is secondary, but a collapse is a regression */
    if (r < 0.8)
        fail_msg("recall %.3f < 0.8", r);
    /* verification is what makes it precise: without it, far less */
    struct gw_eval_counts raw = gw_eval_count(&set, GW_EMBED_LOCAL_DEFAULT_THRESHOLD, 0, NULL);
    assert_true(gw_eval_precision(raw) < 0.9);
}

static void test_symmetric(void **state)
{
    for (size_t i = 0; i < set.n; i++) {
        const struct gw_eval_pair *e = &set.p[i];
        int back = check(e->b, e->a, NULL, 0) == GW_SIMCHECK_PASS;
        if (back != e->verified)
            fail_msg("not symmetric: \"%s\" / \"%s\"", e->a, e->b);
        /* a question always matches itself */
        assert_int_equal(check(e->a, e->a, NULL, 0), GW_SIMCHECK_PASS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_france_germany),
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_reason_buffer),
        cmocka_unit_test(test_texts_api),
        cmocka_unit_test(test_quote_invalid_utf8),
        cmocka_unit_test_setup_teardown(test_eval_precision, load_set, free_set),
        cmocka_unit_test_setup_teardown(test_symmetric, load_set, free_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of common/acmatch.c: the classic overlapping set (he, she, his,
 * hers) found through failure links, lowest pattern index wins, ASCII case
 * folding, UTF-8 bytes matched exactly, matches across split feeds, and a
 * comparison against a naive search on generated text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "acmatch.h"

static int find(const struct gw_ac *ac, const char *text)
{
    struct gw_ac_scan s = {0};
    return gw_ac_feed(ac, &s, text, strlen(text));
}

static void test_overlapping(void **state)
{
    const char *pats[] = {"he", "she", "his", "hers"};
    struct gw_ac *ac = gw_ac_build(pats, 4);
    assert_non_null(ac);
    assert_int_equal(find(ac, "ushers"), 0); /* "she" and "he" end together: lowest index */
    assert_int_equal(find(ac, "ushx"), -1);
    assert_int_equal(find(ac, "xsher"), 0);
    assert_int_equal(find(ac, "xhisx"), 2); /* found through a failure link */
    assert_int_equal(find(ac, "ahex"), 0);
    assert_int_equal(find(ac, "nothing"), -1);
    assert_int_equal(find(ac, ""), -1);
    gw_ac_free(ac);
}

static void test_lowest_index_and_suffix(void **state)
{
    const char *pats[] = {"bcd", "abcd", "cd"};
    struct gw_ac *ac = gw_ac_build(pats, 3);
    /* at the 'd' of "abcd" three patterns end; the lowest index is reported */
    assert_int_equal(find(ac, "xabcdx"), 0);
    assert_int_equal(find(ac, "xcdx"), 2);
    gw_ac_free(ac);
}

static void test_case_and_utf8(void **state)
{
    const char *pats[] = {"Ignore Previous", "café"};
    struct gw_ac *ac = gw_ac_build(pats, 2);
    assert_int_equal(find(ac, "please iGNORE pREVIOUS text"), 0);
    assert_int_equal(find(ac, "un CAFé noir"), 1);
    assert_int_equal(find(ac, "un CAFÉ noir"), -1); /* non-ASCII is not folded */
    gw_ac_free(ac);
}

static void test_split_feeds(void **state)
{
    const char *pats[] = {"needle"};
    struct gw_ac *ac = gw_ac_build(pats, 1);
    const char *text = "haystack with a needle in it";
    for (size_t cut = 0; cut <= strlen(text); cut++) {
        struct gw_ac_scan s = {0};
        int a = gw_ac_feed(ac, &s, text, cut);
        int b = a >= 0 ? a : gw_ac_feed(ac, &s, text + cut, strlen(text) - cut);
        assert_int_equal(b, 0);
    }
    gw_ac_free(ac);
}

static int naive(const char **pats, int n, const char *text)
{
    /* the end position of the earliest-ending match, lowest index among ties */
    size_t len = strlen(text);
    for (size_t end = 1; end <= len; end++)
        for (int i = 0; i < n; i++) {
            size_t pl = strlen(pats[i]);
            if (pl <= end && strncasecmp(text + end - pl, pats[i], pl) == 0)
                return i;
        }
    return -1;
}

static void test_against_naive(void **state)
{
    srand(7);
    for (int round = 0; round < 300; round++) {
        char pbuf[6][6];
        const char *pats[6];
        int n = 1 + rand() % 6;
        for (int i = 0; i < n; i++) {
            int l = 1 + rand() % 4;
            for (int j = 0; j < l; j++)
                pbuf[i][j] = "abAB"[rand() % 4];
            pbuf[i][l] = '\0';
            pats[i] = pbuf[i];
        }
        char text[40];
        int tl = rand() % 39;
        for (int j = 0; j < tl; j++)
            text[j] = "abcAB"[rand() % 5];
        text[tl] = '\0';
        struct gw_ac *ac = gw_ac_build(pats, (size_t)n);
        assert_int_equal(find(ac, text), naive(pats, n, text));
        gw_ac_free(ac);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlapping),   cmocka_unit_test(test_lowest_index_and_suffix),
        cmocka_unit_test(test_case_and_utf8), cmocka_unit_test(test_split_feeds),
        cmocka_unit_test(test_against_naive),
    };
    return cmocka_run_group_tests_name("acmatch", tests, NULL, NULL);
}

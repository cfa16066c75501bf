/* Unit tests of common/chunker.c: chunks are trimmed, non-empty, in order,
 * within max_chars, cover every non-blank byte; a markdown heading starts a
 * chunk and is remembered; cuts prefer paragraphs, then sentences, then
 * spaces, never split a UTF-8 character; overlap repeats text only when a
 * section had to be cut; fences hide headings; bad options are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chunker.h"

static long split(const char *t, size_t max, size_t overlap, int md, struct gw_chunk **out)
{
    struct gw_chunk_opts o = {.max_chars = max, .overlap_chars = overlap, .markdown = md};
    return gw_chunk_split(t, strlen(t), &o, out);
}

/* The invariants every split keeps. */
static void check_invariants(const char *t, size_t max, const struct gw_chunk *c, long n)
{
    size_t covered = 0; /* every non-space byte before this is in some chunk */
    for (long i = 0; i < n; i++) {
        assert_true(c[i].len > 0 && c[i].len <= max);
        assert_true(c[i].off + c[i].len <= strlen(t));
        assert_false(strchr(" \t\r\n", t[c[i].off]));
        assert_false(strchr(" \t\r\n", t[c[i].off + c[i].len - 1]));
        assert_true(((unsigned char)t[c[i].off] & 0xC0) != 0x80);
        if (i)
            assert_true(c[i].off > c[i - 1].off);
        for (size_t k = covered; k < c[i].off; k++)
            assert_true(strchr(" \t\r\n", t[k]) != NULL);
        if (c[i].off + c[i].len > covered)
            covered = c[i].off + c[i].len;
    }
    for (size_t k = covered; t[k]; k++)
        assert_true(strchr(" \t\r\n", t[k]) != NULL);
}

static void test_empty_and_bad_options(void **state)
{
    struct gw_chunk *c = (void *)1;
    assert_int_equal(split("", 100, 10, 0, &c), 0);
    assert_null(c);
    assert_int_equal(split(" \n\n\t ", 100, 10, 1, &c), 0);
    assert_int_equal(split("text", 8, 0, 0, &c), -1);    /* max below 16 */
    assert_int_equal(split("text", 100, 60, 0, &c), -1); /* overlap over half */
    assert_int_equal(split("  one line  ", 100, 10, 0, &c), 1);
    assert_int_equal(c[0].off, 2);
    assert_int_equal(c[0].len, 8);
    assert_int_equal(c[0].head_len, 0);
    free(c);
}

static void test_markdown_sections(void **state)
{
    const char *t = "# Title\n\nIntro text.\n\n## Refunds\n\nWithin 30 days.\n\n"
                    "## Shipping ##\n\nThree days.\n";
    struct gw_chunk *c;
    long n = split(t, 1000, 100, 1, &c);
    assert_int_equal(n, 3);
    check_invariants(t, 1000, c, n);
    assert_memory_equal(t + c[0].off, "# Title", 7);
    assert_memory_equal(t + c[0].head_off, "Title", c[0].head_len);
    assert_int_equal(c[1].head_len, strlen("Refunds"));
    assert_memory_equal(t + c[1].head_off, "Refunds", 7);
    assert_memory_equal(t + c[1].off + c[1].len - 15, "Within 30 days.", 15);
    assert_int_equal(c[2].head_len, strlen("Shipping"));
    assert_memory_equal(t + c[2].head_off, "Shipping", 8);
    free(c);
    /* as plain text: one chunk, no heading */
    n = split(t, 1000, 100, 0, &c);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].head_len, 0);
    free(c);
}

static void test_fence_hides_headings(void **state)
{
    const char *t = "# Real\n\n```sh\n# not a heading\n\necho hi\n```\nafter\n";
    struct gw_chunk *c;
    long n = split(t, 1000, 0, 1, &c);
    assert_int_equal(n, 1);
    assert_memory_equal(t + c[0].head_off, "Real", 4);
    free(c);
}

static void test_prefers_paragraphs_then_sentences(void **state)
{
    /* two paragraphs of 60 bytes: with max 100 the cut is the blank line */
    const char *t = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk lllll\n\n"
                    "mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu vvvv wwww xxxxx\n";
    struct gw_chunk *c;
    long n = split(t, 100, 0, 0, &c);
    assert_int_equal(n, 2);
    check_invariants(t, 100, c, n);
    assert_int_equal(c[0].len, 60);
    assert_memory_equal(t + c[1].off, "mmmm", 4);
    free(c);
    /* one paragraph: the cut after a sentence end beats a later space */
    const char *s = "One two three four five six seven. Eight nine ten eleven twelve thirteen "
                    "fourteen fifteen sixteen";
    n = split(s, 60, 0, 0, &c);
    assert_true(n >= 2);
    check_invariants(s, 60, c, n);
    assert_memory_equal(s + c[0].off + c[0].len - 6, "seven.", 6);
    free(c);
}

static void test_overlap_inside_a_section(void **state)
{
    char t[2000] = "";
    for (int i = 0; i < 100; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%03d ", i);
        strcat(t, w);
    }
    struct gw_chunk *c;
    long n = split(t, 100, 30, 0, &c);
    assert_true(n >= 6);
    check_invariants(t, 100, c, n);
    for (long i = 1; i < n; i++) {
        /* the next chunk starts inside the previous one, at a word */
        assert_true(c[i].off < c[i - 1].off + c[i - 1].len);
        assert_true(c[i - 1].off + c[i - 1].len - c[i].off <= 30);
        assert_int_equal(t[c[i].off], 'w');
    }
    free(c);
    /* without overlap: no byte twice */
    n = split(t, 100, 0, 0, &c);
    for (long i = 1; i < n; i++)
        assert_true(c[i].off >= c[i - 1].off + c[i - 1].len);
    free(c);
}

static void test_utf8_and_long_words(void **state)
{
    /* a 200-byte "word" of 2-byte characters: hard cuts on character starts */
    char t[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(t, "\xc3\xa9");
    struct gw_chunk *c;
    long n = split(t, 33, 0, 0, &c);
    assert_true(n >= 7);
    check_invariants(t, 33, c, n);
    for (long i = 0; i < n; i++)
        assert_true(c[i].len % 2 == 0);
    free(c);
}

static void test_random_invariants(void **state)
{
    static const char *const pieces[] = {"word ", "# Head\n", "\n\n", "sentence. ", "\xe2\x82\xac",
                                         "```\n", "  ",       "\t",   "x",          "## H2 ##\n"};
    srand(7);
    for (int round = 0; round < 300; round++) {
        char t[3000] = "";
        int k = rand() % 200;
        for (int i = 0; i < k; i++)
            strcat(t, pieces[rand() % 10]);
        size_t max = 16 + (size_t)(rand() % 200);
        size_t ov = (size_t)rand() % (max / 2 + 1);
        struct gw_chunk *c;
        long n = split(t, max, ov, rand() % 2, &c);
        assert_true(n >= 0);
        check_invariants(t, max, c, n);
        free(c);
    }
}

static void test_is_markdown(void **state)
{
    assert_true(gw_chunk_is_markdown("a.md"));
    assert_true(gw_chunk_is_markdown("dir.x/b.markdown"));
    assert_false(gw_chunk_is_markdown("notes.txt"));
    assert_false(gw_chunk_is_markdown("md"));
    assert_false(gw_chunk_is_markdown(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_bad_options),
        cmocka_unit_test(test_markdown_sections),
        cmocka_unit_test(test_fence_hides_headings),
        cmocka_unit_test(test_prefers_paragraphs_then_sentences),
        cmocka_unit_test(test_overlap_inside_a_section),
        cmocka_unit_test(test_utf8_and_long_words),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_is_markdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

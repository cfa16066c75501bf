/* Unit tests of gatewayd/textfilter.c, the answer's text filters: with a
 * recording sink, restoration of placeholders split at every point of the
 * text (two pieces, and byte by byte) and of tool-call arguments (escaped
 * JSON); the held-back tail of one channel let out before another's piece,
 * in order; the output guard across piece boundaries (not a byte of a
 * phrase passes), holding back only what may begin a phrase (bounded, never
 * inside a UTF-8 character), on restored text, on tool arguments, firing
 * once and passing nothing after; and the filter with only one of its two
 * parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "acmatch.h"
#include "pii.h"
#include "textfilter.h"

/* What reached the sink: "T[text]" per text piece, "C<key>(id,name)[args]"
 * per tool piece, "B<n>" for a block; text and args also joined apart. */
struct rec {
    struct gw_buf log, text, args;
    int blocks, pieces;
};

static int rec_text(void *ctx, const char *s, size_t n, struct gw_buf *out)
{
    struct rec *r = ctx;
    assert_true(n > 0);
    gw_buf_printf(&r->log, "T[%.*s]", (int)n, s);
    gw_buf_append(&r->text, s, n);
    gw_buf_append(out, s, n);
    r->pieces++;
    return 0;
}

static int rec_tool(void *ctx, int key, const char *id, const char *name, const char *args,
                    size_t n, struct gw_buf *out)
{
    struct rec *r = ctx;
    gw_buf_printf(&r->log, "C%d(%s,%s)[%.*s]", key, id ? id : "-", name ? name : "-", (int)n, args);
    gw_buf_append(&r->args, args, n);
    r->pieces++;
    return 0;
}

static void rec_blocked(void *ctx, int pattern, struct gw_buf *out)
{
    struct rec *r = ctx;
    gw_buf_printf(&r->log, "B%d", pattern);
    r->blocks++;
}

static const struct gw_textfilter_sink sink = {rec_text, rec_tool, rec_blocked};

static void rec_free(struct rec *r)
{
    gw_buf_free(&r->log);
    gw_buf_free(&r->text);
    gw_buf_free(&r->args);
}

static const char *str(const struct gw_buf *b)
{
    return b->data ? b->data : "";
}

/* A map holding the values of orig; *scrubbed gets its scrubbed text. */
static struct gw_pii_map *map_of(const char *orig, struct gw_buf *scrubbed)
{
    struct gw_pii_map *m = gw_pii_map_new();
    assert_non_null(m);
    assert_true(gw_pii_scrub(m, GW_PII_ALL, orig, strlen(orig), scrubbed) > 0);
    return m;
}

static void test_restore_every_split(void **state)
{
    const char *orig = "Write to jo@x.io or ann@y.org; call +44 20 7946 0958.";
    struct gw_buf sc = {0};
    struct gw_pii_map *m = map_of(orig, &sc);
    size_t n = sc.len;
    for (size_t cut = 0; cut <= n; cut++) {
        struct rec r = {0};
        struct gw_buf out = {0};
        struct gw_textfilter *f = gw_textfilter_new(m, NULL, 0, &sink, &r);
        assert_int_equal(gw_textfilter_text(f, sc.data, cut, &out), 0);
        assert_int_equal(gw_textfilter_text(f, sc.data + cut, n - cut, &out), 0);
        assert_int_equal(gw_textfilter_flush(f, &out), 0);
        assert_string_equal(str(&r.text), orig);
        assert_null(strstr(str(&r.log), "<<PII"));
        gw_textfilter_free(f);
        gw_buf_free(&out);
        rec_free(&r);
    }
    /* byte by byte: text before a placeholder is not held back */
    struct rec r = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(m, NULL, 0, &sink, &r);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(gw_textfilter_text(f, sc.data + k, 1, &out), 0);
    assert_int_equal(gw_textfilter_flush(f, &out), 0);
    assert_string_equal(str(&r.text), orig);
    assert_memory_equal(str(&r.log), "T[W]T[r]T[i]", 12);
    gw_textfilter_free(f);
    gw_buf_free(&out);
    rec_free(&r);
    gw_buf_free(&sc);
    gw_pii_map_free(m);
}

static void test_channels_in_order(void **state)
{
    struct gw_buf sc = {0};
    struct gw_pii_map *m = map_of("jo@x.io", &sc);
    assert_int_equal(sc.len, 22);
    char head[16], tail[16];
    memcpy(head, sc.data, 10); /* "<<PII_EMAI" */
    head[10] = '\0';
    snprintf(tail, sizeof tail, "%s", sc.data + 10);

    struct rec r = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(m, NULL, 0, &sink, &r);
    /* text ends in half a placeholder, then a tool call starts: the half
     * goes out as text first (it cannot be completed any more) */
    char piece[64];
    snprintf(piece, sizeof piece, "mail %s", head);
    gw_textfilter_text(f, piece, strlen(piece), &out);
    gw_textfilter_tool(f, 0, "call_1", "send", "", 0, &out);
    /* the arguments carry a placeholder in two fragments */
    snprintf(piece, sizeof piece, "{\"to\":\"%s", head);
    gw_textfilter_tool(f, 0, NULL, NULL, piece, strlen(piece), &out);
    snprintf(piece, sizeof piece, "%s\"}", tail);
    gw_textfilter_tool(f, 0, NULL, NULL, piece, strlen(piece), &out);
    /* a second call: the first's tail (none left) then its pieces */
    gw_textfilter_tool(f, 1, "call_2", "log", "{}", 2, &out);
    gw_textfilter_text(f, "done", 4, &out);
    gw_textfilter_flush(f, &out);
    char want[256];
    snprintf(want, sizeof want,
             "T[mail ]T[%s]C0(call_1,send)[]C0(-,-)[{\"to\":\"]C0(-,-)[jo@x.io\"}]"
             "C1(call_2,log)[{}]T[done]",
             head);
    assert_string_equal(str(&r.log), want);
    gw_textfilter_free(f);
    gw_buf_free(&out);
    rec_free(&r);

    /* a tool call's unfinished tail goes out before text that follows */
    memset(&r, 0, sizeof r);
    f = gw_textfilter_new(m, NULL, 0, &sink, &r);
    gw_textfilter_tool(f, 3, "c", "n", "{\"a\":\"<<PII", 11, &out);
    gw_textfilter_text(f, "after", 5, &out);
    gw_textfilter_flush(f, &out);
    assert_string_equal(str(&r.log), "C3(c,n)[{\"a\":\"]C3(-,-)[<<PII]T[after]");
    gw_textfilter_free(f);
    gw_buf_free(&out);
    rec_free(&r);
    gw_buf_free(&sc);
    gw_pii_map_free(m);
}

static void test_guard_across_pieces(void **state)
{
    const char *pats[] = {"forbidden phrase", "zeus"};
    struct gw_ac *ac = gw_ac_build(pats, 2);
    const char *text = "one two Forbidden Phrase three";
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        struct rec r = {0};
        struct gw_buf out = {0};
        struct gw_textfilter *f = gw_textfilter_new(NULL, ac, 16, &sink, &r);
        gw_textfilter_text(f, text, cut, &out);
        gw_textfilter_text(f, text + cut, n - cut, &out);
        gw_textfilter_tool(f, 0, "id", "name", "{}", 2, &out);
        gw_textfilter_flush(f, &out);
        assert_int_equal(r.blocks, 1);
        assert_true(gw_textfilter_blocked(f));
        assert_null(strstr(str(&r.text), "Forbidden Phrase"));
        assert_null(strstr(str(&r.log), "three"));
        assert_null(strstr(str(&r.log), "C0")); /* nothing after the block */
        /* the text before the phrase passed, and not a byte of the phrase */
        assert_string_equal(str(&r.text), "one two ");
        gw_textfilter_free(f);
        gw_buf_free(&out);
        rec_free(&r);
    }
    gw_ac_free(ac);
}

static void test_guard_holds_back(void **state)
{
    /* what may begin a phrase waits; it goes once the phrase fails */
    const char *pats[] = {"zeus", "ab"};
    struct gw_ac *ac = gw_ac_build(pats, 2);
    struct rec r = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(NULL, ac, 4, &sink, &r);
    gw_textfilter_text(f, "a ze", 4, &out);
    assert_string_equal(str(&r.log), "T[a ]");
    gw_textfilter_text(f, "bro", 3, &out);
    assert_string_equal(str(&r.log), "T[a ]T[zebro]");
    /* a prefix that never resolves is held at most the longest phrase - 1 */
    gw_textfilter_text(f, " aaaaaa", 7, &out);
    assert_string_equal(str(&r.log), "T[a ]T[zebro]T[ aaa]");
    /* the end lets the rest out */
    gw_textfilter_flush(f, &out);
    assert_string_equal(str(&r.text), "a zebro aaaaaa");
    assert_int_equal(r.blocks, 0);
    gw_textfilter_free(f);
    rec_free(&r);
    gw_ac_free(ac);

    /* never inside a UTF-8 character */
    const char *wide[] = {"\xc3\xa9\xc3\xa9!!"}; /* "éé!!", 6 bytes */
    ac = gw_ac_build(wide, 1);
    memset(&r, 0, sizeof r);
    f = gw_textfilter_new(NULL, ac, 6, &sink, &r);
    gw_textfilter_text(f, "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 9, &out);
    assert_string_equal(str(&r.log), "T[x\xc3\xa9]");
    gw_textfilter_text(f, "!!", 2, &out);
    assert_int_equal(r.blocks, 1);
    assert_string_equal(str(&r.text), "x\xc3\xa9"); /* held text is dropped with the phrase */
    gw_textfilter_free(f);
    rec_free(&r);
    gw_buf_free(&out);
    gw_ac_free(ac);
}

static void test_guard_restored_and_tools(void **state)
{
    const char *pats[] = {"jo@x.io", "secret plan"};
    struct gw_ac *ac = gw_ac_build(pats, 2);
    struct gw_buf sc = {0};
    struct gw_pii_map *m = map_of("jo@x.io", &sc);

    /* the guard sees the value, not its placeholder */
    struct rec r = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(m, ac, 11, &sink, &r);
    gw_textfilter_text(f, "to ", 3, &out);
    gw_textfilter_text(f, sc.data, 12, &out);
    gw_textfilter_text(f, sc.data + 12, sc.len - 12, &out);
    gw_textfilter_flush(f, &out);
    assert_string_equal(str(&r.log), "T[to ]B0");
    gw_textfilter_free(f);
    rec_free(&r);

    /* in tool arguments, across fragments; a phrase does not span calls */
    memset(&r, 0, sizeof r);
    f = gw_textfilter_new(m, ac, 11, &sink, &r);
    gw_textfilter_tool(f, 0, "a", "t", "{\"x\":\"secret", 12, &out);
    gw_textfilter_tool(f, 1, "b", "t", " plan\"}", 7, &out);
    assert_int_equal(r.blocks, 0);
    gw_textfilter_tool(f, 1, NULL, NULL, "secret", 6, &out);
    gw_textfilter_tool(f, 1, NULL, NULL, " PLAN", 5, &out);
    gw_textfilter_text(f, "more", 4, &out);
    assert_int_equal(r.blocks, 1);
    assert_string_equal(str(&r.log), "C0(a,t)[{\"x\":\"]C0(-,-)[secret]C1(b,t)[ plan\"}]B1");
    gw_textfilter_free(f);
    rec_free(&r);
    gw_buf_free(&out);
    gw_buf_free(&sc);
    gw_pii_map_free(m);
    gw_ac_free(ac);
}

static void test_plain_and_unknown(void **state)
{
    /* no map, no guard: pieces pass as they are */
    struct rec r = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(NULL, NULL, 0, &sink, &r);
    gw_textfilter_text(f, "a <<PII_EMAIL_00000000>> b", 26, &out);
    gw_textfilter_text(f, "", 0, &out);
    assert_string_equal(str(&r.log), "T[a <<PII_EMAIL_00000000>> b]");
    gw_textfilter_free(f);
    rec_free(&r);
    /* a map: unknown placeholders and an unfinished one at the end stay */
    struct gw_buf sc = {0};
    struct gw_pii_map *m = map_of("jo@x.io", &sc);
    memset(&r, 0, sizeof r);
    f = gw_textfilter_new(m, NULL, 0, &sink, &r);
    gw_textfilter_text(f, "x <<PII_EMAIL_00000000>> y <<PII_EM", 35, &out);
    assert_string_equal(str(&r.log), "T[x <<PII_EMAIL_00000000>> y ]");
    gw_textfilter_flush(f, &out);
    assert_string_equal(str(&r.text), "x <<PII_EMAIL_00000000>> y <<PII_EM");
    gw_textfilter_free(f);
    rec_free(&r);
    gw_buf_free(&out);
    gw_buf_free(&sc);
    gw_pii_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_every_split),      cmocka_unit_test(test_channels_in_order),
        cmocka_unit_test(test_guard_across_pieces),      cmocka_unit_test(test_guard_holds_back),
        cmocka_unit_test(test_guard_restored_and_tools), cmocka_unit_test(test_plain_and_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

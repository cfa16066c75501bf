/* Unit tests of common/arena.c and common/buf.c: arena memory is 16-byte
 * aligned and never overlaps, large allocations get a block of their own,
 * calloc/strdup/strndup, cleanup hooks run once each in reverse order at
 * destroy, absurd sizes give NULL rather than a short block; gw_buf
 * append/puts/printf/consume/reset/free keep the buffer NUL-terminated,
 * gw_buf_reserve reports sizes it cannot hold, and gw_buf_json_str escapes
 * quotes, backslashes and control characters while keeping UTF-8 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"

/* The overflow tests ask for impossible sizes; under AddressSanitizer such a
 * malloc must return NULL as it does in a normal build, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* ---- arena -------------------------------------------------------------- */

static void test_arena_alignment_and_no_overlap(void **state)
{
    struct gw_arena *a = gw_arena_new(0);
    assert_non_null(a);
    enum { N = 600 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i % 97) + 1; /* 1..97 bytes, crossing many blocks */
        ptrs[i] = gw_arena_alloc(a, sizes[i]);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            if (ptrs[i][j] != (unsigned char)(i & 0xff))
                fail_msg("allocation %d byte %zu overwritten", i, j);
    /* zero-byte allocations are aligned too */
    assert_int_equal((uintptr_t)gw_arena_alloc(a, 0) % 16, 0);
    gw_arena_destroy(a);
}

static void test_arena_large_allocations(void **state)
{
    struct gw_arena *a = gw_arena_new(1024);
    assert_non_null(a);
    char *small1 = gw_arena_alloc(a, 10);
    assert_non_null(small1);
    memcpy(small1, "before", 7);
    size_t big_sizes[] = {600, 4096, 100000, 1 << 20, 3 << 20};
    unsigned char *big[5];
    for (int i = 0; i < 5; i++) {
        big[i] = gw_arena_alloc(a, big_sizes[i]);
        assert_non_null(big[i]);
        assert_int_equal((uintptr_t)big[i] % 16, 0);
        memset(big[i], 'A' + i, big_sizes[i]); /* all of it is usable */
    }
    /* small allocations still come after the big ones and do not clash */
    char *small2 = gw_arena_alloc(a, 10);
    assert_non_null(small2);
    memcpy(small2, "after", 6);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(big[i][0], 'A' + i);
        assert_int_equal(big[i][big_sizes[i] - 1], 'A' + i);
    }
    assert_string_equal(small1, "before");
    assert_string_equal(small2, "after");
    gw_arena_destroy(a);
}

static void test_arena_calloc_strdup(void **state)
{
    struct gw_arena *a = gw_arena_new(64);
    assert_non_null(a);
    /* dirty the first block, then calloc must still give zeros */
    memset(gw_arena_alloc(a, 512), 0xff, 512);
    unsigned char *z = gw_arena_calloc(a, 300);
    assert_non_null(z);
    for (int i = 0; i < 300; i++)
        assert_int_equal(z[i], 0);
    char *s = gw_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_null(gw_arena_strdup(a, NULL));
    char *n = gw_arena_strndup(a, "abcdef", 3);
    assert_string_equal(n, "abc");
    char *e = gw_arena_strndup(a, "", 0);
    assert_string_equal(e, "");
    /* strndup reads exactly n bytes: the source need not be NUL-terminated */
    char src[4] = {'x', 'y', 'z', 'w'};
    assert_string_equal(gw_arena_strndup(a, src, 4), "xyzw");
    gw_arena_destroy(a);
}

#define N_HOOKS 6
static int hook_log[N_HOOKS * 2];
static int hook_count;

static void hook(void *arg)
{
    hook_log[hook_count++] = (int)(intptr_t)arg;
}

static void test_arena_cleanup_reverse_order(void **state)
{
    struct gw_arena *a = gw_arena_new(0);
    assert_non_null(a);
    hook_count = 0;
    for (int i = 0; i < N_HOOKS; i++) {
        assert_int_equal(gw_arena_on_destroy(a, hook, (void *)(intptr_t)i), 0);
        /* allocations in between, including a big one, do not disturb hooks */
        gw_arena_alloc(a, i == 3 ? 1 << 16 : 40);
    }
    assert_int_equal(hook_count, 0); /* nothing runs before destroy */
    gw_arena_destroy(a);
    assert_int_equal(hook_count, N_HOOKS);
    for (int i = 0; i < N_HOOKS; i++)
        assert_int_equal(hook_log[i], N_HOOKS - 1 - i);
}

static void free_hook(void *p)
{
    free(p);
}

static void test_arena_cleanup_frees_resource(void **state)
{
    /* a malloc'd resource handed to a hook is not leaked (checked by ASan) */
    struct gw_arena *a = gw_arena_new(0);
    assert_non_null(a);
    char *p = malloc(100);
    assert_non_null(p);
    assert_int_equal(gw_arena_on_destroy(a, free_hook, p), 0);
    gw_arena_destroy(a);
    gw_arena_destroy(NULL); /* a no-op */
}

/* Runs fn in a child process so that a crash (or an endless loop, cut by an
 * alarm) is reported as this test's failure instead of ending the suite.
 * fn returns 0 when the behaviour is right. */
static void in_child(int (*fn)(void), const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        _exit(fn() == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: killed by signal %d%s", what, WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (did not return: endless loop)" : "");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: wrong result or crash (exit status %d)", what, WEXITSTATUS(status));
}

static int arena_overflow_probe(void)
{
    struct gw_arena *a = gw_arena_new(0);
    if (!a)
        return 1;
    void *half = gw_arena_alloc(a, SIZE_MAX / 2);
    /* the block header added to this size wraps around */
    void *near_max = gw_arena_alloc(a, SIZE_MAX - 20);
    /* rounding this size up to 16 wraps around to 0 */
    void *max = gw_arena_alloc(a, SIZE_MAX);
    gw_arena_destroy(a);
    if (half || near_max || max)
        fprintf(stderr,
                "gw_arena_alloc returned %s for SIZE_MAX/2, %s for SIZE_MAX-20, %s for SIZE_MAX\n",
                half ? "non-NULL" : "NULL", near_max ? "non-NULL" : "NULL",
                max ? "non-NULL" : "NULL");
    return half || near_max || max;
}

static void test_arena_alloc_size_overflow(void **state)
{
    /* arena.h: "NULL when out of memory". A size no block can hold must give
     * NULL, not a pointer to fewer bytes than asked for. */
    in_child(arena_overflow_probe, "gw_arena_alloc with sizes near SIZE_MAX");
}

/* ---- buf ---------------------------------------------------------------- */

static void test_buf_append_puts(void **state)
{
    struct gw_buf b = {0};
    assert_int_equal(gw_buf_append(&b, "", 0), 0);
    assert_non_null(b.data); /* NUL-terminated even when empty */
    assert_string_equal(b.data, "");
    assert_int_equal(gw_buf_append(&b, "abc", 3), 0);
    assert_int_equal(gw_buf_puts(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    /* binary data with NULs is kept by length */
    assert_int_equal(gw_buf_append(&b, "x\0y", 3), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "abcdefx\0y", 9);
    assert_int_equal(b.data[9], '\0');
    /* growth: many appends keep all content */
    gw_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(gw_buf_append(&b, &c, 1), 0);
    }
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(b.data[10000], '\0');
    gw_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    gw_buf_free(&b); /* twice is harmless */
}

static void test_buf_printf(void **state)
{
    struct gw_buf b = {0};
    assert_int_equal(gw_buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "42-x");
    assert_int_equal(gw_buf_printf(&b, "|%05.1f|", 3.14159), 0);
    assert_string_equal(b.data, "42-x|003.1|");
    assert_int_equal(b.len, strlen("42-x|003.1|"));
    /* longer than the first allocation */
    assert_int_equal(gw_buf_printf(&b, "%0600d", 7), 0);
    assert_int_equal(b.len, 11 + 600);
    assert_int_equal(b.data[11], '0');
    assert_int_equal(b.data[11 + 599], '7');
    assert_int_equal(b.data[11 + 600], '\0');
    /* an empty format on an empty buffer */
    struct gw_buf e = {0};
    assert_int_equal(gw_buf_printf(&e, "%s", ""), 0);
    assert_non_null(e.data);
    assert_string_equal(e.data, "");
    gw_buf_free(&e);
    gw_buf_free(&b);
}

static void test_buf_consume(void **state)
{
    struct gw_buf b = {0};
    gw_buf_consume(&b, 0); /* on an empty buffer */
    gw_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    gw_buf_puts(&b, "hello world");
    gw_buf_consume(&b, 0);
    assert_string_equal(b.data, "hello world");
    gw_buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "world");
    gw_buf_puts(&b, "!");
    assert_string_equal(b.data, "world!");
    gw_buf_consume(&b, 6); /* exactly all */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    gw_buf_puts(&b, "abc");
    gw_buf_consume(&b, 100); /* more than all */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    gw_buf_free(&b);
}

static void test_buf_reserve_overflow(void **state)
{
    /* buf.h: "-1 when memory runs out (the buffer is left unchanged)". A size
     * that cannot be represented must be refused, not reported as reserved. */
    struct gw_buf b = {0};
    gw_buf_puts(&b, "abc");
    size_t cap = b.cap;
    int rc = gw_buf_reserve(&b, SIZE_MAX);
    int rc2 = gw_buf_reserve(&b, SIZE_MAX - 2);
    assert_string_equal(b.data, "abc");
    size_t cap_after = b.cap;
    gw_buf_free(&b);
    assert_int_equal(rc, -1);
    assert_int_equal(rc2, -1);
    assert_int_equal(cap_after, cap);
}

static int reserve_huge_probe(void)
{
    struct gw_buf b = {0};
    int rc = gw_buf_reserve(&b, SIZE_MAX / 2 + 10);
    gw_buf_free(&b);
    return rc == -1 ? 0 : 1;
}

static void test_buf_reserve_huge_returns(void **state)
{
    /* Reserving more than half the address space must fail, and promptly. */
    in_child(reserve_huge_probe, "gw_buf_reserve(SIZE_MAX/2 + 10)");
}

static void expect_json(const char *in, const char *want)
{
    struct gw_buf b = {0};
    assert_int_equal(gw_buf_json_str(&b, in), 0);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    gw_buf_free(&b);
}

static void test_buf_json_str(void **state)
{
    expect_json("", "\"\"");
    expect_json("plain text", "\"plain text\"");
    expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_json("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    expect_json("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    expect_json("\x01", "\"\\u0001\"");
    expect_json("\x08\x0c", "\"\\u0008\\u000c\"");
    expect_json("\x1f|\x7f", "\"\\u001f|\x7f\"");
    expect_json("x\x1b[0m", "\"x\\u001b[0m\"");
    /* UTF-8 is kept byte for byte, "/" is not escaped */
    expect_json("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 a/b",
                "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 a/b\"");

    /* appends to what is there */
    struct gw_buf b = {0};
    gw_buf_puts(&b, "{\"k\":");
    gw_buf_json_str(&b, "v");
    gw_buf_puts(&b, "}");
    assert_string_equal(b.data, "{\"k\":\"v\"}");
    gw_buf_free(&b);
}

static void test_buf_json_str_round_trip(void **state)
{
    /* every byte 0x01..0x7f, then UTF-8: a JSON parser reads back the input */
    char in[200];
    size_t n = 0;
    for (int c = 1; c < 0x80; c++)
        in[n++] = (char)c;
    const char *utf8 = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    memcpy(in + n, utf8, strlen(utf8));
    n += strlen(utf8);
    in[n] = '\0';
    struct gw_buf b = {0};
    assert_int_equal(gw_buf_json_str(&b, in), 0);
    /* no raw control character is left in the output */
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20)
            fail_msg("raw control character 0x%02x at %zu", (unsigned char)b.data[i], i);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    assert_true(cJSON_IsString(j));
    assert_string_equal(j->valuestring, in);
    cJSON_Delete(j);
    gw_buf_free(&b);
}

static void test_clocks(void **state)
{
    long long a = gw_now_us(), w = gw_wall_ms();
    usleep(2000);
    long long b = gw_now_us();
    assert_true(b - a >= 2000);
    assert_true(w > 1600000000000LL); /* after 2020, in milliseconds */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment_and_no_overlap),
        cmocka_unit_test(test_arena_large_allocations),
        cmocka_unit_test(test_arena_calloc_strdup),
        cmocka_unit_test(test_arena_cleanup_reverse_order),
        cmocka_unit_test(test_arena_cleanup_frees_resource),
        cmocka_unit_test(test_arena_alloc_size_overflow),
        cmocka_unit_test(test_buf_append_puts),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_consume),
        cmocka_unit_test(test_buf_reserve_overflow),
        cmocka_unit_test(test_buf_reserve_huge_returns),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_buf_json_str_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests_name("arena_buf", tests, NULL, NULL);
}

/* Unit tests of gatewayd/affinity.c: the fingerprint (the same for every
 * turn of a conversation, whatever the whitespace or member order; changed
 * by the model, the system prompt, the tools or the opening question; none
 * without messages), the table (a record found until it goes cold, refreshed
 * by a new record, bounded: the coldest make room, recent entries stay),
 * shared by configs of the same size, and consistent under concurrent
 * writers and readers (a reader never sees one writer's deployment with
 * another's key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <string.h>

#include "affinity.h"

#define S  1000000LL
#define T0 (1000 * S)

static unsigned long long fp_of(const char *model, const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    unsigned long long fp = gw_affinity_fingerprint(model, j);
    cJSON_Delete(j);
    return fp;
}

static void test_fingerprint(void **state)
{
    const char *turn1 = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be "
                        "brief\"},{\"role\":\"user\",\"content\":\"hello\"}]}";
    const char *turn2 =
        "{ \"messages\" : [ {\"content\":\"be brief\", \"role\":\"system\"},"
        " {\"role\":\"user\",\"content\":\"hello\"},"
        " {\"role\":\"assistant\",\"content\":\"echo: hello\"},"
        " {\"role\":\"user\",\"content\":\"and more\"} ], \"model\":\"m\", \"temperature\": 0.5 }";
    const char *turn3 =
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"be "
        "brief\"},{\"role\":\"user\",\"content\":\"hello\"},{\"role\":\"assistant\",\"content\":"
        "\"echo: hello\"},{\"role\":\"user\",\"content\":\"and more\"},{\"role\":\"assistant\","
        "\"content\":\"echo: and more\"},{\"role\":\"user\",\"content\":\"last\"}]}";
    unsigned long long f1 = fp_of("m", turn1);
    assert_true(f1 != 0);
    assert_true(f1 == fp_of("m", turn2));
    assert_true(f1 == fp_of("m", turn3));
    /* what makes another prefix */
    assert_true(f1 != fp_of("other", turn1));
    assert_true(f1 != fp_of("m", "{\"messages\":[{\"role\":\"system\",\"content\":\"be long\"},"
                                 "{\"role\":\"user\",\"content\":\"hello\"}]}"));
    assert_true(f1 != fp_of("m", "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                                 "{\"role\":\"user\",\"content\":\"hello!\"}]}"));
    assert_true(f1 != fp_of("m", "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                                 "\"f\"}}],\"messages\":[{\"role\":\"system\",\"content\":\"be "
                                 "brief\"},{\"role\":\"user\",\"content\":\"hello\"}]}"));
    /* a content in parts is the same prefix whatever the member order */
    assert_true(fp_of("m", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                           "\"text\":\"hi\"}]}]}") ==
                fp_of("m", "{\"messages\":[{\"content\":[{\"text\":\"hi\",\"type\":\"text\"}],"
                           "\"role\":\"user\"}]}"));
    assert_true(fp_of("m", "{\"messages\":[]}") == 0);
    assert_true(fp_of("m", "{\"input\":\"x\"}") == 0);
}

static void test_table(void **state)
{
    struct gw_affinity *a = gw_affinity_acquire(64);
    assert_non_null(a);
    uintptr_t d = 0, k = 0;
    assert_false(gw_affinity_lookup(a, 42, T0, &d, &k));
    gw_affinity_record(a, 42, 0x1000, 0x2000, T0 + 300 * S);
    assert_true(gw_affinity_lookup(a, 42, T0 + 299 * S, &d, &k));
    assert_true(d == 0x1000 && k == 0x2000);
    assert_false(gw_affinity_lookup(a, 42, T0 + 300 * S, &d, &k)); /* gone cold */
    /* a new record replaces the old one and makes it warm for longer */
    gw_affinity_record(a, 42, 0x1008, 0, T0 + 600 * S);
    assert_true(gw_affinity_lookup(a, 42, T0 + 500 * S, &d, &k));
    assert_true(d == 0x1008 && k == 0);
    long cap = 0;
    assert_int_equal(gw_affinity_entries(a, T0, &cap), 1);
    assert_int_equal(cap, 64);
    /* bounded: a thousand prefixes, the table keeps at most its capacity and
     * the latest ones (each new one goes cold later) */
    for (unsigned long long f = 1000; f < 2000; f++)
        gw_affinity_record(a, f * 0x9e3779b97f4a7c15ULL, (uintptr_t)f, 0, T0 + (long long)f * S);
    assert_true(gw_affinity_entries(a, T0, NULL) <= 64);
    int recent = 0;
    for (unsigned long long f = 1990; f < 2000; f++)
        recent += gw_affinity_lookup(a, f * 0x9e3779b97f4a7c15ULL, T0, &d, &k) && d == f;
    assert_int_equal(recent, 10);
    assert_false(gw_affinity_lookup(a, 0, T0, &d, &k));
    /* configs of the same size share it; another size gets its own */
    struct gw_affinity *same = gw_affinity_acquire(64);
    assert_ptr_equal(same, a);
    struct gw_affinity *other = gw_affinity_acquire(100);
    assert_ptr_not_equal(other, a);
    gw_affinity_entries(other, T0, &cap);
    assert_int_equal(cap, 128);
    assert_int_equal(gw_affinity_current_entries(T0, &cap), 0); /* the newest is current */
    gw_affinity_release(same);
    gw_affinity_release(a);
    gw_affinity_release(other);
    assert_int_equal(gw_affinity_current_entries(T0, &cap), 0);
    assert_int_equal(cap, 0);
    gw_affinity_release(NULL);
}

static void test_counts(void **state)
{
    long long l0, h0, l1, h1;
    gw_affinity_totals(&l0, &h0);
    gw_affinity_count(1);
    gw_affinity_count(0);
    gw_affinity_totals(&l1, &h1);
    assert_int_equal(l1 - l0, 2);
    assert_int_equal(h1 - h0, 1);
}

/* Writers record fp -> (fp * 2, fp * 3); readers must only ever see such
 * pairs. */
struct race {
    struct gw_affinity *a;
    int writer;
    int bad;
};

static void *racer(void *p)
{
    struct race *r = p;
    for (int i = 0; i < 200000; i++) {
        unsigned long long fp = (unsigned long long)(i % 97) + 1;
        if (r->writer) {
            gw_affinity_record(r->a, fp, (uintptr_t)(fp * 2 + (unsigned)(i & 1) * 1000),
                               (uintptr_t)(fp * 3 + (unsigned)(i & 1) * 1000), T0 + S);
        } else {
            uintptr_t d, k;
            if (gw_affinity_lookup(r->a, fp, T0, &d, &k) && (d - fp * 2) != (k - fp * 3))
                r->bad++;
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct gw_affinity *a = gw_affinity_acquire(16);
    struct race rs[4] = {{a, 1, 0}, {a, 1, 0}, {a, 0, 0}, {a, 0, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, racer, &rs[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(rs[2].bad + rs[3].bad, 0);
    gw_affinity_release(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

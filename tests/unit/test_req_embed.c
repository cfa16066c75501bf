/* Unit tests of gatewayd/req_embed.c: the request's user text (every user
 * message, text parts included) and question (the last user message); each
 * embedding is computed once and the same vector is returned to every
 * caller; a text with no words gives NULL (and is not retried). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "embed.h"
#include "req_embed.h"
#include "request.h"

static struct gw_request *make(const char *json)
{
    static struct gw_request r;
    memset(&r, 0, sizeof r);
    r.arena = gw_arena_new(4096);
    r.json = cJSON_Parse(json);
    assert_non_null(r.json);
    return &r;
}

static void done(struct gw_request *r)
{
    cJSON_Delete(r->json);
    gw_arena_destroy(r->arena);
}

static void test_texts(void **state)
{
    struct gw_request *r =
        make("{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
             "{\"role\":\"user\",\"content\":\"first question\"},"
             "{\"role\":\"assistant\",\"content\":\"answer\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"second\"},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":"
             "\"part\"}]}]}");
    assert_string_equal(gw_request_text(r, GW_REQ_TEXT_USER), "first question\nsecond\npart");
    assert_string_equal(gw_request_text(r, GW_REQ_TEXT_QUESTION), "second part");
    assert_string_equal(gw_request_text(r, GW_REQ_TEXT_N), "");
    done(r);
}

static void test_computed_once(void **state)
{
    struct gw_request *r =
        make("{\"messages\":[{\"role\":\"user\",\"content\":\"How do refunds work?\"}]}");
    assert_int_equal(gw_request_embeddings_computed(r), 0);
    const float *a = gw_request_embedding(r, GW_REQ_TEXT_QUESTION);
    const float *b = gw_request_embedding(r, GW_REQ_TEXT_QUESTION);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(gw_request_embeddings_computed(r), 1);
    float want[GW_EMBED_LOCAL_DIM];
    assert_int_equal(gw_embed_local("How do refunds work?", 20, want), 0);
    assert_memory_equal(a, want, sizeof want);
    /* the user text is another text: a second (and last) computation */
    const float *u = gw_request_embedding(r, GW_REQ_TEXT_USER);
    assert_non_null(u);
    assert_ptr_equal(u, gw_request_embedding(r, GW_REQ_TEXT_USER));
    assert_int_equal(gw_request_embeddings_computed(r), 2);
    done(r);
}

static void test_no_words(void **state)
{
    struct gw_request *r = make("{\"messages\":[{\"role\":\"user\",\"content\":\"?!\"}]}");
    assert_null(gw_request_embedding(r, GW_REQ_TEXT_USER));
    assert_null(gw_request_embedding(r, GW_REQ_TEXT_USER));
    assert_int_equal(gw_request_embeddings_computed(r), 1);
    done(r);
    r = make("{\"messages\":[{\"role\":\"system\",\"content\":\"only a system message\"}]}");
    assert_string_equal(gw_request_text(r, GW_REQ_TEXT_QUESTION), "");
    assert_null(gw_request_embedding(r, GW_REQ_TEXT_QUESTION));
    done(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_computed_once),
        cmocka_unit_test(test_no_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

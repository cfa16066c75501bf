/* Unit tests of a sub-request's answer reading (gatewayd/subrequest.c:
 * gw_subrequest_read) and of the firewall's verdict parser
 * (gw_firewall_parse_verdict): the text of a chat answer, the vector of an
 * embeddings answer, every failure with its reason (error statuses with
 * the provider's message, bodies that are not JSON or hold no text), and
 * the first-word reading of "safe" / "unsafe". The whole flow (routing,
 * waking the parent) is proved by tests/integration/test_firewall_verdict.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firewall.h"
#include "subrequest.h"

struct got {
    struct gw_subresult res;
    char reason[200];
    char *text;
    float *vec;
};

static void read_answer(struct got *g, enum gw_api api, int status, const char *body)
{
    memset(g, 0, sizeof *g);
    gw_subrequest_read(api, status, body, body ? strlen(body) : 0, &g->res, g->reason,
                       sizeof g->reason, &g->text, &g->vec);
}

static void done(struct got *g)
{
    free(g->text);
    free(g->vec);
}

static void test_chat_text(void **state)
{
    struct got g;
    read_answer(&g, GW_API_CHAT, 200,
                "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                "{\"role\":\"assistant\",\"content\":\"unsafe\"},\"finish_reason\":\"stop\"}],"
                "\"usage\":{\"prompt_tokens\":41,\"completion_tokens\":1}}");
    assert_true(g.res.ok);
    assert_int_equal(g.res.status, 200);
    assert_string_equal(g.res.text, "unsafe");
    assert_ptr_equal(g.res.text, g.text);
    assert_null(g.res.vec);
    assert_int_equal(g.res.prompt_tokens, 41);
    assert_int_equal(g.res.completion_tokens, 1);
    done(&g);
}

static void test_embedding_vector(void **state)
{
    struct got g;
    read_answer(&g, GW_API_EMBEDDINGS, 200,
                "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                "\"embedding\":[0.5,-0.25,1]},{\"index\":1,\"embedding\":[9]}],"
                "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}");
    assert_true(g.res.ok);
    assert_int_equal(g.res.dim, 3);
    assert_true(g.res.vec[0] == 0.5f && g.res.vec[1] == -0.25f && g.res.vec[2] == 1.0f);
    assert_null(g.res.text);
    assert_int_equal(g.res.prompt_tokens, 3);
    done(&g);
}

static void test_failures(void **state)
{
    struct got g;
    read_answer(&g, GW_API_CHAT, 502,
                "{\"error\":{\"message\":\"Could not reach the provider.\",\"type\":\"x\"}}");
    assert_false(g.res.ok);
    assert_int_equal(g.res.status, 502);
    assert_string_equal(g.res.reason, "status 502: Could not reach the provider.");
    assert_null(g.text);
    done(&g);

    read_answer(&g, GW_API_CHAT, 404, NULL);
    assert_false(g.res.ok);
    assert_string_equal(g.res.reason, "status 404: no answer");
    done(&g);

    read_answer(&g, GW_API_CHAT, 200, "this is not json");
    assert_false(g.res.ok);
    assert_string_equal(g.res.reason, "the answer is not JSON");
    done(&g);

    read_answer(&g, GW_API_CHAT, 200, "{\"choices\":[{\"message\":{\"content\":null}}]}");
    assert_false(g.res.ok);
    assert_string_equal(g.res.reason, "the answer has no text");
    done(&g);

    read_answer(&g, GW_API_EMBEDDINGS, 200, "{\"data\":[{\"embedding\":\"AAAA\"}]}");
    assert_false(g.res.ok);
    assert_string_equal(g.res.reason, "the answer has no embedding");
    done(&g);

    read_answer(&g, GW_API_EMBEDDINGS, 200, "{\"data\":[{\"embedding\":[1e300,1]}]}");
    assert_false(g.res.ok); /* no float holds it */
    assert_null(g.vec);
    done(&g);

    /* token counts out of range are left at 0, the text is still read */
    read_answer(&g, GW_API_CHAT, 200,
                "{\"choices\":[{\"message\":{\"content\":\"safe\"}}],"
                "\"usage\":{\"prompt_tokens\":1e24,\"completion_tokens\":-3}}");
    assert_true(g.res.ok);
    assert_int_equal(g.res.prompt_tokens, 0);
    assert_int_equal(g.res.completion_tokens, 0);
    done(&g);

    read_answer(&g, GW_API_EMBEDDINGS, 200, "{\"data\":[{\"embedding\":[1,\"x\"]}]}");
    assert_false(g.res.ok);
    assert_null(g.vec);
    assert_string_equal(g.res.reason, "the embedding holds a non-number");
    done(&g);
}

static void test_verdict_parser(void **state)
{
    assert_int_equal(gw_firewall_parse_verdict("unsafe"), 1);
    assert_int_equal(gw_firewall_parse_verdict("UNSAFE."), 1);
    assert_int_equal(gw_firewall_parse_verdict("  \"Unsafe\" - it asks for the prompt"), 1);
    assert_int_equal(gw_firewall_parse_verdict("**unsafe**"), 1);
    assert_int_equal(gw_firewall_parse_verdict("safe"), 0);
    assert_int_equal(gw_firewall_parse_verdict("Safe.\n"), 0);
    assert_int_equal(gw_firewall_parse_verdict("safely"), -1);
    assert_int_equal(gw_firewall_parse_verdict("unsafety"), -1);
    assert_int_equal(gw_firewall_parse_verdict("maybe safe"), -1);
    assert_int_equal(gw_firewall_parse_verdict("not unsafe"), -1);
    assert_int_equal(gw_firewall_parse_verdict(""), -1);
    assert_int_equal(gw_firewall_parse_verdict("123"), -1);
    assert_int_equal(gw_firewall_parse_verdict(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_text),
        cmocka_unit_test(test_embedding_vector),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_verdict_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

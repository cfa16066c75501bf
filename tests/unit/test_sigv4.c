/* Unit tests of common/sigv4.c against published vectors: the signing key,
 * canonical request, string to sign and signature of AWS's IAM ListUsers
 * example; cases of AWS's Signature Version 4 test suite (get-vanilla,
 * post-vanilla, query order, header case, trimming, repeated header, STS
 * token); two Bedrock requests signed by AWS's own Python signer (botocore
 * 1.43), one with a session token, whose "%3A" in the path is encoded again
 * ("%253A") in the canonical URI. Also: query canonicalisation, the header
 * lines, determinism, rejection of bad input, the amz_date formatter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sigv4.h"

#define SECRET       "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_DATE   "20150830T123600Z"
#define SUITE_HOST   "example.amazonaws.com"
#define STS_TOKEN                                                                                  \
    "AQoDYXdzEPT//////////"                                                                        \
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwth" \
    "Ax"                                                                                           \
    "7mSEI/qkPpKPi/"                                                                               \
    "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcH" \
    "NV"                                                                                           \
    "XAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"                                               \
    "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJ"                                             \
    "abIQwj2ICCR/oLxBA=="

static void hex32(const unsigned char k[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        out[2 * i] = "0123456789abcdef"[k[i] >> 4], out[2 * i + 1] = "0123456789abcdef"[k[i] & 15];
    out[64] = '\0';
}

static void test_signing_key(void **state)
{
    unsigned char key[32];
    char hex[65];
    assert_int_equal(gw_sigv4_signing_key(SECRET, "20150830", "us-east-1", "iam", key), 0);
    hex32(key, hex);
    assert_string_equal(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

static void test_iam_list_users(void **state)
{
    const struct gw_sigv4_header h[] = {
        {"Host", "iam.amazonaws.com"},
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"X-Amz-Date", SUITE_DATE},
    };
    struct gw_sigv4_input in = {
        .method = "GET",
        .path = "/",
        .query = "Action=ListUsers&Version=2010-05-08",
        .headers = h,
        .nheaders = 3,
        .payload_hash = EMPTY_SHA256,
        .amz_date = SUITE_DATE,
        .region = "us-east-1",
        .service = "iam",
    };
    struct gw_sigv4_parts p = {0};
    char hash[65];
    assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
    assert_string_equal(p.canonical_request.data,
                        "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
                        "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                        "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                        "content-type;host;x-amz-date\n" EMPTY_SHA256);
    gw_sigv4_sha256_hex(p.canonical_request.data, p.canonical_request.len, hash);
    assert_string_equal(hash, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    assert_string_equal(p.string_to_sign.data,
                        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
                        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    assert_string_equal(p.signed_headers.data, "content-type;host;x-amz-date");
    assert_string_equal(p.signature,
                        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    gw_sigv4_parts_free(&p);
}

/* A test-suite case: host and x-amz-date, then up to three more headers. */
struct suite_case {
    const char *name, *method, *path, *query;
    struct gw_sigv4_header extra[3];
    const char *signed_headers, *signature;
};

static const struct suite_case suite[] = {
    {"get-vanilla",
     "GET",
     "/",
     "",
     {{0}},
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla",
     "POST",
     "/",
     NULL,
     {{0}},
     "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     {{0}},
     "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"post-vanilla-query",
     "POST",
     "/",
     "Param1=value1",
     {{0}},
     "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-header-value-case",
     "POST",
     "/",
     "",
     {{"My-Header1", "VALUE1"}},
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-header-key-case",
     "POST",
     "/",
     "",
     {{"MY-HEADER1", "value1"}},
     "host;my-header1;x-amz-date",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"get-header-value-trim",
     "GET",
     "/",
     "",
     {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     "",
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"post-sts-header-before",
     "POST",
     "/",
     "",
     {{"X-Amz-Security-Token", STS_TOKEN}},
     "host;x-amz-date;x-amz-security-token",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

static void test_suite(void **state)
{
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
        const struct suite_case *c = &suite[i];
        struct gw_sigv4_header h[5] = {{"Host", SUITE_HOST}, {"X-Amz-Date", SUITE_DATE}};
        size_t nh = 2;
        for (int k = 0; k < 3 && c->extra[k].name; k++)
            h[nh++] = c->extra[k];
        struct gw_sigv4_input in = {
            .method = c->method,
            .path = c->path,
            .query = c->query,
            .headers = h,
            .nheaders = nh,
            .payload_hash = EMPTY_SHA256,
            .amz_date = SUITE_DATE,
            .region = "us-east-1",
            .service = "service",
        };
        struct gw_sigv4_parts p = {0};
        assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
        if (strcmp(p.signature, c->signature) != 0 ||
            strcmp(p.signed_headers.data, c->signed_headers) != 0)
            fail_msg("%s: got %s / %s\ncanonical request:\n%s", c->name, p.signed_headers.data,
                     p.signature, p.canonical_request.data);
        gw_sigv4_parts_free(&p);
    }
}

static void test_suite_intermediates(void **state)
{
    /* post-vanilla: canonical request and string to sign as published */
    const struct gw_sigv4_header h[] = {{"Host", SUITE_HOST}, {"X-Amz-Date", SUITE_DATE}};
    struct gw_sigv4_input in = {.method = "POST",
                                .path = "/",
                                .headers = h,
                                .nheaders = 2,
                                .payload_hash = EMPTY_SHA256,
                                .amz_date = SUITE_DATE,
                                .region = "us-east-1",
                                .service = "service"};
    struct gw_sigv4_parts p = {0};
    assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
    assert_string_equal(p.canonical_request.data, "POST\n/\n\nhost:example.amazonaws.com\n"
                                                  "x-amz-date:20150830T123600Z\n\n"
                                                  "host;x-amz-date\n" EMPTY_SHA256);
    assert_string_equal(p.string_to_sign.data,
                        "AWS4-HMAC-SHA256\n20150830T123600Z\n"
                        "20150830/us-east-1/service/aws4_request\n"
                        "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
    gw_sigv4_parts_free(&p);
}

#define BEDROCK_BODY        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}"
#define BEDROCK_BODY_SHA256 "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0"

static struct gw_sigv4_request bedrock_request(void)
{
    return (struct gw_sigv4_request){
        .method = "POST",
        .path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
        .query = "",
        .host = "bedrock-runtime.us-east-1.amazonaws.com",
        .content_type = "application/json",
        .body = BEDROCK_BODY,
        .body_len = strlen(BEDROCK_BODY),
        .amz_date = "20240501T093015Z",
        .region = "us-east-1",
        .service = "bedrock",
    };
}

static void test_bedrock_with_token(void **state)
{
    struct gw_sigv4_creds c = {"AKIDEXAMPLE", SECRET, "SESSIONTOKEN/EXAMPLE+abc=="};
    struct gw_sigv4_request r = bedrock_request();
    struct gw_sigv4_signed s = {0};
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(
        s.line[0], "Authorization: AWS4-HMAC-SHA256 "
                   "Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, "
                   "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
                   "x-amz-security-token, "
                   "Signature=5989b3324b1d1821ad6f7fc16411cb7db6ac71f1d210e1c77cd432581979e33b");
    assert_string_equal(s.line[1], "X-Amz-Date: 20240501T093015Z");
    assert_string_equal(s.line[2], "X-Amz-Content-Sha256: " BEDROCK_BODY_SHA256);
    assert_string_equal(s.line[3], "X-Amz-Security-Token: SESSIONTOKEN/EXAMPLE+abc==");
    assert_null(s.line[4]);
    assert_string_equal(s.signature,
                        "5989b3324b1d1821ad6f7fc16411cb7db6ac71f1d210e1c77cd432581979e33b");

    /* deterministic, and reusable after a first signing */
    struct gw_sigv4_signed again = {0};
    assert_int_equal(gw_sigv4_sign(&c, &r, &again), 0);
    assert_int_equal(gw_sigv4_sign(&c, &r, &again), 0);
    assert_int_equal(again.n, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(again.line[i], s.line[i]);
    /* another body, another signature */
    r.body = "{}";
    r.body_len = 2;
    assert_int_equal(gw_sigv4_sign(&c, &r, &again), 0);
    assert_string_not_equal(again.signature, s.signature);
    gw_sigv4_signed_free(&again);
    gw_sigv4_signed_free(&s);
}

static void test_bedrock_without_token(void **state)
{
    struct gw_sigv4_creds c = {"AKIDEXAMPLE", SECRET, NULL};
    struct gw_sigv4_request r = bedrock_request();
    struct gw_sigv4_signed s = {0};
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), 0);
    assert_int_equal(s.n, 3);
    assert_null(s.line[3]);
    assert_non_null(strstr(s.line[0], "SignedHeaders=content-type;host;x-amz-content-sha256;"
                                      "x-amz-date, "));
    assert_string_equal(s.signature,
                        "1899269bada6e4100ecdc7409854e38b83494ab0c173edf8bb256f64f71ec284");
    /* an empty token is no token */
    c.session_token = "";
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), 0);
    assert_int_equal(s.n, 3);
    gw_sigv4_signed_free(&s);
}

static void test_canonical_uri_encodes_twice(void **state)
{
    const struct gw_sigv4_header h[] = {{"host", "h"}, {"x-amz-date", "20240501T093015Z"}};
    struct gw_sigv4_input in = {.method = "POST",
                                .path = "/model/a.b-v1%3A0/x y~_",
                                .headers = h,
                                .nheaders = 2,
                                .payload_hash = EMPTY_SHA256,
                                .amz_date = "20240501T093015Z",
                                .region = "us-east-1",
                                .service = "bedrock"};
    struct gw_sigv4_parts p = {0};
    assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
    assert_memory_equal(p.canonical_request.data, "POST\n/model/a.b-v1%253A0/x%20y~_\n\n", 34);
    /* an empty path is "/" */
    in.path = "";
    assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
    assert_memory_equal(p.canonical_request.data, "POST\n/\n\n", 8);
    gw_sigv4_parts_free(&p);
}

static void test_canonical_query(void **state)
{
    static const struct {
        const char *wire, *canonical;
    } cases[] = {
        {"b=2&a=1&a=0&c", "a=0&a=1&b=2&c="}, {"x=a%2fb&&y=%3a", "x=a%2Fb&y=%3A"},
        {"k=a b+c*", "k=a%20b%2Bc%2A"},      {"bad=%zz%4", "bad=%25zz%254"},
        {"a-b=1&a=2", "a=2&a-b=1"},
    };
    const struct gw_sigv4_header h[] = {{"host", "h"}};
    struct gw_sigv4_parts p = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gw_sigv4_input in = {.method = "GET",
                                    .path = "/",
                                    .query = cases[i].wire,
                                    .headers = h,
                                    .nheaders = 1,
                                    .payload_hash = EMPTY_SHA256,
                                    .amz_date = SUITE_DATE,
                                    .region = "r",
                                    .service = "s"};
        assert_int_equal(gw_sigv4_compute(&in, SECRET, &p), 0);
        const char *q = p.canonical_request.data + strlen("GET\n/\n");
        size_t len = strcspn(q, "\n");
        if (len != strlen(cases[i].canonical) || memcmp(q, cases[i].canonical, len) != 0)
            fail_msg("query %s: got %.*s", cases[i].wire, (int)len, q);
    }
    gw_sigv4_parts_free(&p);
}

static void test_rejects(void **state)
{
    struct gw_sigv4_creds c = {"AKIDEXAMPLE", SECRET, "tok\r\nX-Evil: 1"};
    struct gw_sigv4_request r = bedrock_request();
    struct gw_sigv4_signed s = {0};
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1); /* header injection */
    assert_int_equal(s.n, 0);
    c.session_token = NULL;
    r.host = "a\nb";
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1);
    r = bedrock_request();
    r.amz_date = "2024-05-01T09:30:15Z";
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1);
    r.amz_date = "20240501T093015";
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1);
    r = bedrock_request();
    c.access_key_id = "";
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1);
    c.access_key_id = "AKIDEXAMPLE";
    r.body = NULL;
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), -1); /* body_len without a body */
    r.body_len = 0;
    assert_int_equal(gw_sigv4_sign(&c, &r, &s), 0); /* an empty body */
    assert_string_equal(s.line[2], "X-Amz-Content-Sha256: " EMPTY_SHA256);
    gw_sigv4_signed_free(&s);
}

static void test_amz_date(void **state)
{
    char d[GW_SIGV4_DATE_LEN + 1];
    gw_sigv4_amz_date(1440938160, d); /* 2015-08-30 12:36:00 UTC */
    assert_string_equal(d, SUITE_DATE);
    gw_sigv4_amz_date(0, d);
    assert_string_equal(d, "19700101T000000Z");
    gw_sigv4_amz_date(time(NULL), d);
    assert_int_equal(strlen(d), GW_SIGV4_DATE_LEN);
    assert_int_equal(d[8], 'T');
    assert_int_equal(d[15], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_iam_list_users),
        cmocka_unit_test(test_suite),
        cmocka_unit_test(test_suite_intermediates),
        cmocka_unit_test(test_bedrock_with_token),
        cmocka_unit_test(test_bedrock_without_token),
        cmocka_unit_test(test_canonical_uri_encodes_twice),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

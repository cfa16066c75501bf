/* Unit tests of common/gcp_auth.c: the service-account fixture loads; the JWT
 * built at a fixed time has exactly the header and claims Google's JWT bearer
 * grant expects (decoded and compared field by field) and an RS256 signature
 * that the fixture's public key verifies; the token request body is the form
 * Google documents; bad key files and bad token answers give the right
 * messages; the token cache refreshes inside its window and lets one thread
 * at a time refresh. Run from the repository root (the fixtures' paths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp_auth.h"

#define SA_PATH  "tests/fixtures/vertex-sa.json"
#define PUB_PATH "tests/fixtures/vertex-sa.pub.pem"
#define EMAIL    "gatewayd-test@gw-test-project.iam.gserviceaccount.com"
#define NOW      1700000000LL

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

/* The fixture as a cJSON tree the caller edits and deletes. */
static cJSON *fixture(void)
{
    char *s = read_all(SA_PATH);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

/* Loads j (printed) with gw_gcp_sa_load_json; returns its rc, message in err. */
static int load_tree(cJSON *j, struct gw_gcp_sa *sa, char *err, size_t errlen)
{
    char *s = cJSON_PrintUnformatted(j);
    int rc = gw_gcp_sa_load_json(s, strlen(s), NULL, sa, err, errlen);
    free(s);
    return rc;
}

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
    unsigned char *out = malloc(n + 1);
    assert_non_null(out);
    if (sodium_base642bin(out, n, s, n, NULL, outlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        fail_msg("not base64url without padding: %.*s", (int)n, s);
    out[*outlen] = '\0';
    return out;
}

static void test_load_fixture(void **state)
{
    struct gw_gcp_sa sa;
    char err[256] = "";
    assert_int_equal(gw_gcp_sa_load_file(SA_PATH, &sa, err, sizeof err), 0);
    assert_string_equal(sa.client_email, EMAIL);
    assert_string_equal(sa.project_id, "gw-test-project");
    assert_string_equal(sa.token_uri, "http://127.0.0.1:1/token");
    assert_int_equal(strlen(sa.private_key_id), 40);
    assert_non_null(sa.pkey);
    assert_int_equal(EVP_PKEY_base_id(sa.pkey), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_bits(sa.pkey), 2048);
    gw_gcp_sa_free(&sa);
    assert_null(sa.client_email);
    assert_null(sa.pkey);
    gw_gcp_sa_free(&sa); /* twice is harmless */
}

static int verify_rs256(const char *input, size_t inlen, const unsigned char *sig, size_t siglen)
{
    FILE *f = fopen(PUB_PATH, "r");
    assert_non_null(f);
    EVP_PKEY *pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    int ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, inlen);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    return ok;
}

static void test_jwt(void **state)
{
    struct gw_gcp_sa sa;
    char err[256] = "";
    assert_int_equal(gw_gcp_sa_load_file(SA_PATH, &sa, err, sizeof err), 0);
    cJSON *fx = fixture();
    const char *kid = cJSON_GetStringValue(cJSON_GetObjectItem(fx, "private_key_id"));
    assert_non_null(kid);

    char *jwt = gw_gcp_jwt(&sa, NOW, err, sizeof err);
    assert_non_null(jwt);
    assert_null(strpbrk(jwt, "=+/ \n"));
    char *dot1 = strchr(jwt, '.');
    assert_non_null(dot1);
    char *dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));

    size_t n;
    char *hdr = (char *)b64url_decode(jwt, (size_t)(dot1 - jwt), &n);
    char want[512];
    snprintf(want, sizeof want, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    assert_string_equal(hdr, want);
    cJSON *h = cJSON_Parse(hdr);
    assert_non_null(h);
    assert_int_equal(cJSON_GetArraySize(h), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h, "alg")), "RS256");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h, "typ")), "JWT");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h, "kid")), kid);

    char *claims = (char *)b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    assert_string_equal(claims, "{\"iss\":\"" EMAIL "\","
                                "\"scope\":\"https://www.googleapis.com/auth/cloud-platform\","
                                "\"aud\":\"http://127.0.0.1:1/token\","
                                "\"iat\":1700000000,\"exp\":1700003600}");
    cJSON *c = cJSON_Parse(claims);
    assert_non_null(c);
    assert_int_equal(cJSON_GetArraySize(c), 5);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "iss")), EMAIL);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "scope")),
                        "https://www.googleapis.com/auth/cloud-platform");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "aud")),
                        "http://127.0.0.1:1/token");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "iat")) == 1700000000.0);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "exp")) == 1700003600.0);

    unsigned char *sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &n);
    assert_int_equal(n, 256);
    assert_int_equal(verify_rs256(jwt, (size_t)(dot2 - jwt), sig, n), 1);
    /* the signature covers the header and the claims: change one and it fails */
    char *tampered = strdup(jwt);
    tampered[dot1 - jwt + 5] ^= 1;
    assert_int_not_equal(verify_rs256(tampered, (size_t)(dot2 - jwt), sig, n), 1);

    /* RSASSA-PKCS1-v1_5 is deterministic: same key, same time, same JWT */
    char *again = gw_gcp_jwt(&sa, NOW, err, sizeof err);
    assert_string_equal(again, jwt);

    free(again);
    free(tampered);
    free(sig);
    cJSON_Delete(c);
    free(claims);
    cJSON_Delete(h);
    free(hdr);
    free(jwt);
    cJSON_Delete(fx);
    gw_gcp_sa_free(&sa);
}

/* No kid when the file has no private_key_id, the default token_uri when it
 * has none, and JSON escaping of what the file says. */
static void test_jwt_defaults_and_escaping(void **state)
{
    struct gw_gcp_sa sa;
    char err[256] = "";
    cJSON *j = fixture();
    cJSON_DeleteItemFromObject(j, "private_key_id");
    cJSON_DeleteItemFromObject(j, "token_uri");
    cJSON_DeleteItemFromObject(j, "project_id");
    cJSON_ReplaceItemInObject(j, "client_email", cJSON_CreateString("a\"b\\c@x"));
    assert_int_equal(load_tree(j, &sa, err, sizeof err), 0);
    assert_null(sa.private_key_id);
    assert_null(sa.project_id);
    assert_string_equal(sa.token_uri, "https://oauth2.googleapis.com/token");

    char *jwt = gw_gcp_jwt(&sa, NOW, err, sizeof err);
    assert_non_null(jwt);
    char *dot1 = strchr(jwt, '.'), *dot2 = strchr(dot1 + 1, '.');
    size_t n;
    char *hdr = (char *)b64url_decode(jwt, (size_t)(dot1 - jwt), &n);
    assert_string_equal(hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    char *claims = (char *)b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    cJSON *c = cJSON_Parse(claims);
    assert_non_null(c);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "iss")), "a\"b\\c@x");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "aud")),
                        "https://oauth2.googleapis.com/token");
    cJSON_Delete(c);
    free(claims);
    free(hdr);
    free(jwt);
    gw_gcp_sa_free(&sa);
    cJSON_Delete(j);

    /* nothing loaded: an error, not a crash */
    memset(&sa, 0, sizeof sa);
    assert_null(gw_gcp_jwt(&sa, NOW, err, sizeof err));
    assert_string_equal(err, "JWT: service account not loaded");
}

static void test_token_request_body(void **state)
{
    struct gw_gcp_sa sa;
    char err[256] = "";
    assert_int_equal(gw_gcp_sa_load_file(SA_PATH, &sa, err, sizeof err), 0);
    char *body = gw_gcp_token_request_body(&sa, NOW, err, sizeof err);
    char *jwt = gw_gcp_jwt(&sa, NOW, err, sizeof err);
    assert_non_null(body);
    assert_non_null(jwt);
    static const char prefix[] =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    assert_memory_equal(body, prefix, sizeof prefix - 1);
    assert_string_equal(body + sizeof prefix - 1, jwt);
    free(jwt);
    free(body);
    gw_gcp_sa_free(&sa);
}

/* A PEM private key of another kind, or an encrypted one (which must fail
 * without prompting for a passphrase). */
static char *other_key_pem(int encrypted)
{
    EVP_PKEY *k = encrypted ? EVP_RSA_gen(1024) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    if (encrypted)
        assert_int_equal(
            PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_128_cbc(), "pass", 4, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(k);
    return s;
}

/* Loads the fixture with member key replaced by v (NULL: removed) and
 * expects failure with message want and an empty struct. */
static void expect_bad(const char *key, cJSON *v, const char *want)
{
    struct gw_gcp_sa sa;
    char err[256] = "";
    cJSON *j = fixture();
    if (v)
        cJSON_ReplaceItemInObject(j, key, v);
    else
        cJSON_DeleteItemFromObject(j, key);
    assert_int_equal(load_tree(j, &sa, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_null(sa.client_email);
    assert_null(sa.token_uri);
    assert_null(sa.pkey);
    cJSON_Delete(j);
}

static void test_bad_json(void **state)
{
    expect_bad("client_email", NULL, "service account: missing client_email");
    expect_bad("client_email", cJSON_CreateString(""), "service account: missing client_email");
    expect_bad("client_email", cJSON_CreateNumber(7),
               "service account: client_email is not a string");
    expect_bad("private_key", NULL, "service account: missing private_key");
    expect_bad("private_key", cJSON_CreateString("not a key"),
               "service account: private_key is not a PEM RSA key");
    expect_bad("type", cJSON_CreateString("authorized_user"),
               "service account: type is \"authorized_user\", expected \"service_account\"");
    char *ed = other_key_pem(0);
    expect_bad("private_key", cJSON_CreateString(ed),
               "service account: private_key is not an RSA key (RS256 needs one)");
    free(ed);
    char *enc = other_key_pem(1);
    assert_non_null(strstr(enc, "ENCRYPTED"));
    expect_bad("private_key", cJSON_CreateString(enc),
               "service account: private_key is not a PEM RSA key");
    free(enc);

    struct gw_gcp_sa sa;
    char err[256] = "";
    assert_int_equal(gw_gcp_sa_load_json("[1]", 3, "vertex key", &sa, err, sizeof err), -1);
    assert_string_equal(err, "vertex key: not a JSON object");
    assert_int_equal(gw_gcp_sa_load_json("{\"a\":", 5, NULL, &sa, err, sizeof err), -1);
    assert_string_equal(err, "service account: not a JSON object");
}

static void test_bad_files(void **state)
{
    struct gw_gcp_sa sa;
    char err[512] = "";
    assert_int_equal(gw_gcp_sa_load_file("tests/fixtures/no-such-sa.json", &sa, err, sizeof err),
                     -1);
    assert_string_equal(err, "service account file tests/fixtures/no-such-sa.json: No such file or "
                             "directory");

    char path[] = "/tmp/gw-sa-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char want[512];
    assert_int_equal(gw_gcp_sa_load_file(path, &sa, err, sizeof err), -1);
    snprintf(want, sizeof want, "service account file %s: empty", path);
    assert_string_equal(err, want);

    assert_int_equal(write(fd, "{\"type\":\"service_account\"}", 26), 26);
    assert_int_equal(gw_gcp_sa_load_file(path, &sa, err, sizeof err), -1);
    snprintf(want, sizeof want, "service account file %s: missing client_email", path);
    assert_string_equal(err, want);
    close(fd);
    unlink(path);
}

static void test_token_parse(void **state)
{
    char *tok = (char *)1;
    long long exp = 0;
    char err[256] = "";
    const char *good =
        "{\"access_token\":\"ya29.c.b0Aaek-_x\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
    assert_int_equal(gw_gcp_token_parse(good, strlen(good), &tok, &exp, NOW, err, sizeof err), 0);
    assert_string_equal(tok, "ya29.c.b0Aaek-_x");
    assert_true(exp == NOW + 3599);
    free(tok);

    /* token_type may be absent; the length bound is respected (not NUL-terminated input) */
    const char *plain = "{\"access_token\":\"t\",\"expires_in\":60}trailing";
    assert_int_equal(gw_gcp_token_parse(plain, 36, &tok, &exp, 100, err, sizeof err), 0);
    assert_string_equal(tok, "t");
    assert_true(exp == 160);
    free(tok);

    static const struct {
        const char *body, *want;
    } bad[] = {
        {"{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
         "token endpoint: invalid_grant: Invalid JWT Signature."},
        {"{\"error\":\"invalid_scope\"}", "token endpoint: invalid_scope"},
        {"{\"error\":\"x\",\"error_description\":\"line1\\nline2\"}",
         "token endpoint: x: line1?line2"},
        {"{\"expires_in\":3599,\"token_type\":\"Bearer\"}",
         "token endpoint: answer has no access_token"},
        {"{\"access_token\":\"\",\"expires_in\":3599}",
         "token endpoint: answer has no access_token"},
        {"{\"access_token\":\"t\",\"token_type\":\"Bearer\"}",
         "token endpoint: answer has no numeric expires_in"},
        {"{\"access_token\":\"t\",\"expires_in\":\"3599\"}",
         "token endpoint: answer has no numeric expires_in"},
        {"{\"access_token\":\"t\",\"expires_in\":-5}",
         "token endpoint: expires_in -5 is not a positive number of seconds"},
        {"{\"access_token\":\"t\",\"expires_in\":0}",
         "token endpoint: expires_in 0 is not a positive number of seconds"},
        {"{\"access_token\":\"t\",\"expires_in\":1e300}",
         "token endpoint: expires_in 1e+300 is not a positive number of seconds"},
        {"{\"access_token\":\"t\",\"expires_in\":60,\"token_type\":\"mac\"}",
         "token endpoint: token_type is not Bearer"},
        {"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":60}",
         "token endpoint: access_token is too long or has characters a header cannot carry"},
        {"<html>502</html>", "token endpoint: answer is not a JSON object"},
        {"[]", "token endpoint: answer is not a JSON object"},
        {"", "token endpoint: answer is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tok = (char *)1;
        err[0] = '\0';
        if (gw_gcp_token_parse(bad[i].body, strlen(bad[i].body), &tok, &exp, NOW, err,
                               sizeof err) != -1)
            fail_msg("accepted: %s", bad[i].body);
        assert_null(tok);
        assert_string_equal(err, bad[i].want);
    }
}

static void test_cache_window(void **state)
{
    struct gw_gcp_token_cache c;
    char buf[64];
    assert_int_equal(gw_gcp_token_cache_init(&c), 0);

    /* empty: refresh, nothing to get */
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 1000), 1);
    assert_int_equal(gw_gcp_token_cache_get(&c, 1000, buf, sizeof buf), -1);

    assert_int_equal(gw_gcp_token_cache_set(&c, "tok-1", 1000 + 3600), 0);
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 1000), 0);
    assert_int_equal(gw_gcp_token_cache_get(&c, 1000, buf, sizeof buf), 0);
    assert_string_equal(buf, "tok-1");

    /* exactly 300 s left: still fine; 299 s: refresh, and the old token still serves */
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 4600 - 300), 0);
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 4600 - 299), 1);
    assert_int_equal(gw_gcp_token_cache_get(&c, 4600 - 299, buf, sizeof buf), 0);
    /* 31 s left: served; 30 s or fewer: not */
    assert_int_equal(gw_gcp_token_cache_get(&c, 4600 - 31, buf, sizeof buf), 0);
    assert_int_equal(gw_gcp_token_cache_get(&c, 4600 - 30, buf, sizeof buf), -1);
    assert_int_equal(gw_gcp_token_cache_get(&c, 4600 + 10, buf, sizeof buf), -1);
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 4600 + 10), 1);

    /* a buffer too small gets nothing */
    assert_int_equal(gw_gcp_token_cache_get(&c, 1000, buf, 5), -1);
    assert_int_equal(gw_gcp_token_cache_get(&c, 1000, buf, 6), 0);

    /* a new token replaces the old one */
    assert_int_equal(gw_gcp_token_cache_set(&c, "tok-2", 4500 + 3599), 0);
    assert_int_equal(gw_gcp_token_cache_needs_refresh(&c, 4500), 0);
    assert_int_equal(gw_gcp_token_cache_get(&c, 4500, buf, sizeof buf), 0);
    assert_string_equal(buf, "tok-2");

    /* refused: the cache keeps what it had */
    static char huge[GW_GCP_TOKEN_MAX + 1];
    memset(huge, 'a', GW_GCP_TOKEN_MAX);
    assert_int_equal(gw_gcp_token_cache_set(&c, huge, 9999999), -1);
    assert_int_equal(gw_gcp_token_cache_set(&c, "", 9999999), -1);
    assert_int_equal(gw_gcp_token_cache_set(&c, NULL, 9999999), -1);
    assert_int_equal(gw_gcp_token_cache_get(&c, 4500, buf, sizeof buf), 0);
    assert_string_equal(buf, "tok-2");

    /* one refresh at a time */
    assert_int_equal(gw_gcp_token_cache_try_begin_refresh(&c), 1);
    assert_int_equal(gw_gcp_token_cache_try_begin_refresh(&c), 0);
    gw_gcp_token_cache_end_refresh(&c);
    assert_int_equal(gw_gcp_token_cache_try_begin_refresh(&c), 1);
    gw_gcp_token_cache_end_refresh(&c);
    gw_gcp_token_cache_free(&c);
}

enum { RACERS = 8 };
static pthread_barrier_t start;
static struct gw_gcp_token_cache shared;

static void *racer(void *arg)
{
    pthread_barrier_wait(&start);
    *(int *)arg = gw_gcp_token_cache_try_begin_refresh(&shared);
    return NULL;
}

static void test_cache_single_refresher(void **state)
{
    for (int round = 0; round < 50; round++) {
        pthread_t t[RACERS];
        int won[RACERS] = {0}, total = 0;
        assert_int_equal(gw_gcp_token_cache_init(&shared), 0);
        assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
        for (int i = 0; i < RACERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, racer, &won[i]), 0);
        for (int i = 0; i < RACERS; i++) {
            pthread_join(t[i], NULL);
            total += won[i];
        }
        assert_int_equal(total, 1);
        pthread_barrier_destroy(&start);
        gw_gcp_token_cache_free(&shared);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_fixture),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_jwt_defaults_and_escaping),
        cmocka_unit_test(test_token_request_body),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_cache_window),
        cmocka_unit_test(test_cache_single_refresher),
    };
    return cmocka_run_group_tests_name("gcp_auth", tests, NULL, NULL);
}

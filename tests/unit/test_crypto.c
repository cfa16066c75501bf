/* Unit tests of common/crypto.c: key secrets are "sk-gw-" + 43 base64url
 * characters (GW_KEY_SECRET_LEN in all), NUL-terminated, with nothing written
 * past the buffer, and differ from one call to the next; gw_key_hash is
 * SHA-256 over exactly len bytes (FIPS 180-2 vectors); gw_random_id writes
 * the prefix and 2*nbytes lowercase hex characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crypto.h"

static int setup(void **state)
{
    return gw_crypto_init();
}

static int is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_key_format(void **state)
{
    assert_int_equal(GW_KEY_SECRET_LEN, strlen(GW_KEY_PREFIX) + 43);
    /* guard bytes after the documented buffer size must stay untouched */
    char buf[GW_KEY_SECRET_LEN + 1 + 16];
    memset(buf, '#', sizeof buf);
    gw_key_generate(buf);
    assert_int_equal(buf[GW_KEY_SECRET_LEN], '\0');
    for (size_t i = GW_KEY_SECRET_LEN + 1; i < sizeof buf; i++)
        assert_int_equal(buf[i], '#');
    assert_int_equal(strlen(buf), GW_KEY_SECRET_LEN);
    assert_memory_equal(buf, "sk-gw-", 6);
    for (size_t i = strlen(GW_KEY_PREFIX); i < GW_KEY_SECRET_LEN; i++)
        if (!is_b64url(buf[i]))
            fail_msg("character %zu of %s is not base64url", i, buf);
    assert_true(GW_KEY_DISPLAY_LEN < GW_KEY_SECRET_LEN);
}

static void test_keys_differ(void **state)
{
    enum { N = 200 };
    static char keys[N][GW_KEY_SECRET_LEN + 1];
    for (int i = 0; i < N; i++)
        gw_key_generate(keys[i]);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (strcmp(keys[i], keys[j]) == 0)
                fail_msg("keys %d and %d are equal: %s", i, j, keys[i]);
    /* the random part starts right after the marker, so even the displayed
     * prefixes differ (48 random bits) */
    assert_true(strncmp(keys[0], keys[1], GW_KEY_DISPLAY_LEN) != 0);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
}

static void expect_sha256(const char *in, size_t len, const char *want)
{
    unsigned char h[GW_KEY_HASH_LEN];
    char got[2 * GW_KEY_HASH_LEN + 1];
    gw_key_hash(in, len, h);
    hex(h, sizeof h, got);
    assert_string_equal(got, want);
}

static void test_key_hash_sha256(void **state)
{
    assert_int_equal(GW_KEY_HASH_LEN, 32);
    expect_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_sha256(two, strlen(two),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* exactly len bytes are hashed, not up to a NUL */
    expect_sha256("abcdef", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect_sha256("a\0c", 3, "b179f49283f586ae1922b625af4017aecdf77e7ee175c0af675abea14252a666");
}

static void test_key_hash_of_generated_key(void **state)
{
    /* deterministic for one secret, different for two */
    char k1[GW_KEY_SECRET_LEN + 1], k2[GW_KEY_SECRET_LEN + 1];
    unsigned char h1[GW_KEY_HASH_LEN], h1b[GW_KEY_HASH_LEN], h2[GW_KEY_HASH_LEN];
    gw_key_generate(k1);
    gw_key_generate(k2);
    gw_key_hash(k1, strlen(k1), h1);
    gw_key_hash(k1, strlen(k1), h1b);
    gw_key_hash(k2, strlen(k2), h2);
    assert_memory_equal(h1, h1b, sizeof h1);
    assert_memory_not_equal(h1, h2, sizeof h1);
}

static void test_random_id(void **state)
{
    char a[80], b[80];
    memset(a, '#', sizeof a);
    gw_random_id(a, "req_", 12);
    assert_int_equal(strlen(a), 4 + 24);
    assert_memory_equal(a, "req_", 4);
    for (size_t i = 4; i < strlen(a); i++)
        if (!is_lower_hex(a[i]))
            fail_msg("character %zu of %s is not lowercase hex", i, a);
    assert_int_equal(a[4 + 24 + 1], '#'); /* nothing past the NUL */
    gw_random_id(b, "req_", 12);
    assert_string_not_equal(a, b);

    gw_random_id(a, "key_", 8);
    assert_int_equal(strlen(a), 4 + 16);
    assert_memory_equal(a, "key_", 4);
    gw_random_id(a, "", 32);
    assert_int_equal(strlen(a), 64);
    for (size_t i = 0; i < 64; i++)
        assert_true(is_lower_hex(a[i]));
    gw_random_id(a, "team_", 0);
    assert_string_equal(a, "team_");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_format),      cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_key_hash_sha256), cmocka_unit_test(test_key_hash_of_generated_key),
        cmocka_unit_test(test_random_id),
    };
    return cmocka_run_group_tests_name("crypto", tests, setup, NULL);
}

/* Unit tests of common/pii.c: every detector with values it must find (in
 * the formats people write them) and look-alikes it must leave alone; the
 * Luhn and IBAN checks; placeholders (format, stable within a map, distinct
 * for distinct values, unknown to another type); scrubbing; and the
 * streaming restorer fed at every split point, and byte by byte, with
 * placeholders it knows, placeholders it does not, and near-misses;
 * rescrubbing an answer; and the pii: / output_guard: config sections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pii.h"

/* "type:value" of each value found in s, joined by '|'. */
struct found {
    const char *s;
    char out[1024];
};

static int on_found(void *arg, const struct gw_pii_span *sp)
{
    struct found *f = arg;
    size_t l = strlen(f->out);
    snprintf(f->out + l, sizeof f->out - l, "%s%s:%.*s", l ? "|" : "", gw_pii_type_name(sp->type),
             (int)sp->len, f->s + sp->start);
    return 0;
}

static const char *scan_mask(const char *s, unsigned mask)
{
    static struct found f;
    memset(&f, 0, sizeof f);
    f.s = s;
    gw_pii_scan(s, strlen(s), mask, on_found, &f);
    return f.out;
}

static const char *scan(const char *s)
{
    return scan_mask(s, GW_PII_ALL);
}

/* s holds exactly one value, want (type:text). */
static void one(const char *s, const char *want)
{
    const char *got = scan(s);
    if (strcmp(got, want) != 0)
        fail_msg("in \"%s\": found \"%s\", wanted \"%s\"", s, got, want);
}

/* s holds nothing any detector takes. */
static void none(const char *s)
{
    const char *got = scan(s);
    if (*got)
        fail_msg("in \"%s\": found \"%s\", wanted nothing", s, got);
}

static void test_email(void **state)
{
    one("write to john.doe@example.com today", "email:john.doe@example.com");
    one("<Jane_O+tag@mail.example.co.uk>", "email:Jane_O+tag@mail.example.co.uk");
    one("mailto:ops%team@x-y.io.", "email:ops%team@x-y.io");
    one("(a1@b2.museum)", "email:a1@b2.museum");
    none("user@localhost"); /* no dot in the domain */
    none("at the @ sign");
    none("x@y.c");               /* one-letter top-level domain */
    none("name@domain.123");     /* numeric top-level domain */
    none("me@-bad.com");         /* a label starting with '-' */
    none("version@1.2 and a@b"); /* a@b has no domain */
}

static void test_phone(void **state)
{
    one("call +1 415 555 2671 now", "phone:+1 415 555 2671");
    one("call +14155552671.", "phone:+14155552671");
    one("tel: +44 20 7946 0958", "phone:+44 20 7946 0958");
    one("+49-30-1234567", "phone:+49-30-1234567");
    one("+33 (0)1 23 45 67 89", "phone:+33 (0)1 23 45 67 89");
    one("+1 (415) 555-2671", "phone:+1 (415) 555-2671");
    one("(415) 555-2671", "phone:(415) 555-2671");
    one("office 415-555-2671, ext", "phone:415-555-2671");
    one("415.555.2671", "phone:415.555.2671");
    one("1-800-555-0199", "phone:1-800-555-0199");
    one("415 555 2671 10 times", "phone:415 555 2671");
    one("UK 020 7946 0958", "phone:020 7946 0958");
    one("FR 06 12 34 56 78", "phone:06 12 34 56 78");
    none("order 4155552671"); /* a bare run of digits */
    none("on 2024-01-15 at"); /* a date */
    none("15.01.2024");
    none("version 10.0.19041.1");
    none("ZIP 94105-1234");
    none("415-555-2671-99");    /* a longer dashed id */
    none("555-2671");           /* too short */
    none("+12 345");            /* too short */
    none("(123) 456-7890");     /* area code cannot start with 1 */
    none("id12 415 555 2671x"); /* glued to words */
}

static void test_credit_card(void **state)
{
    one("card 4111 1111 1111 1111 exp 12/29", "credit_card:4111 1111 1111 1111");
    one("4111-1111-1111-1111", "credit_card:4111-1111-1111-1111");
    one("pay with 5555555555554444.", "credit_card:5555555555554444");
    one("amex 3782 822463 10005", "credit_card:3782 822463 10005");
    one("4111 1111 1111 1111 123", "credit_card:4111 1111 1111 1111");
    none("4111 1111 1111 1112");    /* Luhn fails */
    none("1111 1111 1111 1117");    /* Luhn passes, but no card starts with 1 */
    none("41111111111111111111");   /* 20 digits */
    none("x4111111111111111");      /* inside a word */
    none("4111-1111-1111-1111-11"); /* a longer dashed id */
    none("0.4111111111111111");     /* a decimal */
}

static void test_ssn(void **state)
{
    one("SSN 123-45-6789.", "ssn:123-45-6789");
    one("ssn: 078 05 1120", "ssn:078 05 1120");
    none("000-12-3456");
    none("666-12-3456");
    none("912-12-3456");
    none("123-00-4567");
    none("123-45-0000");
    none("123456789");     /* bare digits */
    none("123-45-6789-1"); /* a longer id */
    none("123-45 6789");   /* mixed separators */
}

static void test_iban(void **state)
{
    one("IBAN DE89370400440532013000 please", "iban:DE89370400440532013000");
    one("to GB82 WEST 1234 5698 7654 32.", "iban:GB82 WEST 1234 5698 7654 32");
    one("FR14 2004 1010 0505 0001 3M02 606 THANKS", "iban:FR14 2004 1010 0505 0001 3M02 606");
    one("NL91ABNA0417164300", "iban:NL91ABNA0417164300");
    none("DE89370400440532013001"); /* checksum fails */
    none("GB82 WEST 1234 5698 7654 33");
    none("AB12CDEF");               /* too short */
    none("DE00370400440532013000"); /* check digits 00 */
    assert_true(gw_pii_iban_ok("DE89370400440532013000", 22));
    assert_false(gw_pii_iban_ok("DE89 3704", 9));
}

static void test_ip(void **state)
{
    one("from 192.168.1.20:8080", "ip:192.168.1.20");
    one("host 8.8.8.8.", "ip:8.8.8.8");
    one("at 2001:db8:85a3:0:0:8a2e:370:7334 now", "ip:2001:db8:85a3:0:0:8a2e:370:7334");
    one("link fe80::1ff:fe23:4567:890a%eth0", "ip:fe80::1ff:fe23:4567:890a");
    one("mapped ::ffff:192.0.2.128 here", "ip:::ffff:192.0.2.128");
    one("[2001:db8::1]:443", "ip:2001:db8::1");
    one("net fe80::", "ip:fe80::");
    none("256.1.1.1");
    none("1.2.3");
    none("1.2.3.4.5");
    none("at 12:30:45 sharp");     /* a time */
    none("mac 00:1A:2B:3C:4D:5E"); /* a MAC address */
    none("std::vector and a::b");  /* code */
    none("1:2:3:4:5:6:7:8:9");     /* nine groups */
    none("12345::6");              /* a five-digit group */
}

static void test_secret(void **state)
{
    one("key sk-proj-abcDEF1234567890xyzXYZ0987 ok", "secret:sk-proj-abcDEF1234567890xyzXYZ0987");
    one("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv-wxyz_0123",
        "secret:sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv-wxyz_0123");
    one("aws AKIAIOSFODNN7EXAMPLE,", "secret:AKIAIOSFODNN7EXAMPLE");
    one("ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "secret:ghp_0123456789abcdefghijABCDEFGHIJ012345");
    one("slack xoxb-1234567890-abcdefghij", "secret:xoxb-1234567890-abcdefghij");
    one("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret:sk_live_4eC39HqLyjWDarjtT1zdp7dc");
    one("google AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "secret:AIzaSyA1234567890abcdefghijklmnopqrstuv");
    one("Authorization: Bearer abcd1234efgh5678ijkl", "secret:abcd1234efgh5678ijkl");
    one("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk.",
        "secret:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_"
        "wW1gFWFOEjXk");
    one("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "secret:eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0");
    none("sk-short");
    none("task-1234567890123456789012");           /* no boundary before sk- */
    none("AKIAIOSFODNN7EXAMPL");                   /* 15 after AKIA */
    none("AKIAIOSFODNN7EXAMPLEX");                 /* 17 */
    none("the bearer of this letter is a friend"); /* no token */
    none("Bearer tokens-are-described-here-okay"); /* no digit */
    none("eyJhbGciOiJIUzI1NiJ9 alone");
}

static void test_mask_and_order(void **state)
{
    const char *s = "mail a@b.io, call +1 415 555 2671, ip 10.0.0.1";
    assert_string_equal(scan_mask(s, 1u << GW_PII_EMAIL), "email:a@b.io");
    assert_string_equal(scan_mask(s, 1u << GW_PII_PHONE), "phone:+1 415 555 2671");
    assert_string_equal(scan_mask(s, 0), "");
    assert_string_equal(scan(s), "email:a@b.io|phone:+1 415 555 2671|ip:10.0.0.1");
    /* a card number is not also a phone number */
    assert_string_equal(scan("4111 1111 1111 1111"), "credit_card:4111 1111 1111 1111");
    /* names and config names */
    for (int t = 0; t < GW_PII_N_TYPES; t++)
        assert_int_equal(gw_pii_type_from_name(gw_pii_type_name(t)), t);
    assert_int_equal(gw_pii_type_from_name("passport"), -1);
}

static void test_luhn(void **state)
{
    assert_true(gw_pii_luhn_ok("4111111111111111", 16));
    assert_true(gw_pii_luhn_ok("378282246310005", 15));
    assert_true(gw_pii_luhn_ok("0", 1));
    assert_false(gw_pii_luhn_ok("4111111111111112", 16));
    assert_false(gw_pii_luhn_ok("41111x1111111111", 16));
    assert_false(gw_pii_luhn_ok("", 0));
}

/* ---- placeholders, scrub, restore ----------------------------------------- */

static int is_placeholder(const char *p, size_t n, const char *tag)
{
    char head[32];
    snprintf(head, sizeof head, "<<PII_%s_", tag);
    size_t hl = strlen(head);
    if (n != hl + 10 || memcmp(p, head, hl) != 0 || memcmp(p + n - 2, ">>", 2) != 0)
        return 0;
    for (size_t k = hl; k < hl + 8; k++)
        if (!strchr("0123456789abcdef", p[k]))
            return 0;
    return 1;
}

static void test_scrub(void **state)
{
    struct gw_pii_map *m = gw_pii_map_new();
    struct gw_buf out = {0};
    const char *s = "from a@b.io to a@b.io and c@d.io; card 4111 1111 1111 1111";
    long n = gw_pii_scrub(m, GW_PII_ALL, s, strlen(s), &out);
    assert_int_equal(n, 4);
    assert_int_equal(gw_pii_map_size(m), 3);
    assert_int_equal(gw_pii_map_replaced(m, GW_PII_EMAIL), 3);
    assert_int_equal(gw_pii_map_replaced(m, GW_PII_CREDIT_CARD), 1);
    assert_null(strstr(out.data, "a@b.io"));
    assert_null(strstr(out.data, "4111"));
    /* "from <<PII_EMAIL_x>> to <<PII_EMAIL_x>> and <<PII_EMAIL_y>>; card <<PII_CREDIT_CARD_z>>" */
    const char *p1 = strstr(out.data, "<<"), *p2 = strstr(p1 + 2, "<<"), *p3 = strstr(p2 + 2, "<<"),
               *p4 = strstr(p3 + 2, "<<");
    assert_true(is_placeholder(p1, 22, "EMAIL"));
    assert_memory_equal(p1, p2, 22); /* the same value, the same placeholder */
    assert_memory_not_equal(p1, p3, 22);
    assert_true(is_placeholder(p4, 28, "CREDIT_CARD"));
    size_t len;
    const char *v = gw_pii_map_lookup(m, p1, 22, &len);
    assert_non_null(v);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "a@b.io", 6);
    /* the same hex under another type is not a placeholder of this map */
    char other[32];
    snprintf(other, sizeof other, "<<PII_PHONE_%.8s>>", p1 + 12);
    assert_null(gw_pii_map_lookup(m, other, strlen(other), &len));

    /* a second map (another request) gives the same value the same placeholder */
    struct gw_pii_map *m2 = gw_pii_map_new();
    struct gw_buf out2 = {0};
    assert_int_equal(gw_pii_scrub(m2, 1u << GW_PII_EMAIL, "a@b.io", 6, &out2), 1);
    assert_int_equal(out2.len, 22);
    assert_memory_equal(out2.data, p1, 22);
    /* nothing to replace: the text as it was */
    gw_buf_reset(&out2);
    assert_int_equal(gw_pii_scrub(m2, GW_PII_ALL, "plain text", 10, &out2), 0);
    assert_string_equal(out2.data, "plain text");
    gw_buf_free(&out2);
    gw_pii_map_free(m2);
    gw_buf_free(&out);
    gw_pii_map_free(m);
}

static void test_many_values(void **state)
{
    /* many distinct values: the index grows, every one restores */
    struct gw_pii_map *m = gw_pii_map_new();
    struct gw_buf in = {0}, sc = {0}, back = {0};
    for (int k = 0; k < 2000; k++)
        gw_buf_printf(&in, "user%d@example.com ", k);
    assert_int_equal(gw_pii_scrub(m, GW_PII_ALL, in.data, in.len, &sc), 2000);
    assert_int_equal(gw_pii_map_size(m), 2000);
    struct gw_pii_restorer rs;
    gw_pii_restore_init(&rs, m, 0);
    assert_int_equal(gw_pii_restore_feed(&rs, sc.data, sc.len, &back), 0);
    assert_int_equal(gw_pii_restore_flush(&rs, &back), 0);
    assert_int_equal(back.len, in.len);
    assert_memory_equal(back.data, in.data, in.len);
    gw_buf_free(&in);
    gw_buf_free(&sc);
    gw_buf_free(&back);
    gw_pii_map_free(m);
}

static void test_rescrub(void **state)
{
    struct gw_pii_map *m = gw_pii_map_new();
    struct gw_buf sc = {0}, back = {0}, again = {0};
    const char *prompt = "mail jo@x.io and call +1 415 555 2671";
    assert_int_equal(gw_pii_scrub(m, GW_PII_ALL, prompt, strlen(prompt), &sc), 2);
    /* an answer naming the prompt's values and another address */
    const char *answer = "Sure: jo@x.io, +1 415 555 2671; cc ann@y.org.";
    assert_int_equal(gw_pii_rescrub(m, answer, strlen(answer), &back), 2);
    assert_null(strstr(back.data, "jo@x.io"));
    assert_non_null(strstr(back.data, "ann@y.org")); /* not the request's: kept */
    /* restoring gives the answer back */
    struct gw_pii_restorer rs;
    gw_pii_restore_init(&rs, m, 0);
    assert_int_equal(gw_pii_restore_feed(&rs, back.data, back.len, &again), 0);
    assert_int_equal(gw_pii_restore_flush(&rs, &again), 0);
    assert_string_equal(again.data, answer);
    /* the same placeholders as the prompt's */
    const char *ph = strstr(sc.data, "<<PII_EMAIL_");
    assert_memory_equal(strstr(back.data, "<<PII_EMAIL_"), ph, 22);
    gw_buf_free(&sc);
    gw_buf_free(&back);
    gw_buf_free(&again);
    gw_pii_map_free(m);
}

/* Restores text fed in two pieces split at every point, and byte by byte. */
static void restore_all_splits(const struct gw_pii_map *m, int json, const char *text,
                               const char *want)
{
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        struct gw_pii_restorer rs;
        struct gw_buf out = {0};
        gw_pii_restore_init(&rs, m, json);
        assert_int_equal(gw_pii_restore_feed(&rs, text, cut, &out), 0);
        assert_int_equal(gw_pii_restore_feed(&rs, text + cut, n - cut, &out), 0);
        assert_int_equal(gw_pii_restore_flush(&rs, &out), 0);
        if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
            fail_msg("split at %zu: got \"%.*s\", wanted \"%s\"", cut, (int)out.len, out.data,
                     want);
        gw_buf_free(&out);
    }
    struct gw_pii_restorer rs;
    struct gw_buf out = {0};
    gw_pii_restore_init(&rs, m, json);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(gw_pii_restore_feed(&rs, text + k, 1, &out), 0);
        assert_true(rs.n_hold < GW_PII_PLACEHOLDER_MAX);
    }
    assert_int_equal(gw_pii_restore_flush(&rs, &out), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    gw_buf_free(&out);
}

static void test_restore_splits(void **state)
{
    struct gw_pii_map *m = gw_pii_map_new();
    struct gw_buf sc = {0};
    const char *orig =
        "Mail \"jo\"@x.io? No: jo@x.io or call +1 415 555 2671; card 4111111111111111.";
    assert_int_equal(gw_pii_scrub(m, GW_PII_ALL, orig, strlen(orig), &sc), 3);
    restore_all_splits(m, 0, sc.data, orig);

    /* text around and between placeholders that only look like them */
    struct gw_buf t = {0}, w = {0};
    const char *ph = strstr(sc.data, "<<PII_EMAIL_");
    gw_buf_printf(&t,
                  "a < b << c <<PII_ <<PII_EMAIL <<PII_EMAIL_zz <<<%.22s>> <<PII_EMAIL_00000000>> "
                  "<<PII_NOPE_12345678>> end <",
                  ph);
    gw_buf_printf(
        &w, "a < b << c <<PII_ <<PII_EMAIL <<PII_EMAIL_zz <<<jo@x.io>> <<PII_EMAIL_00000000>> "
            "<<PII_NOPE_12345678>> end <");
    restore_all_splits(m, 0, t.data, w.data);

    /* JSON text (tool arguments): a value is escaped */
    struct gw_pii_map *mj = gw_pii_map_new();
    struct gw_buf sj = {0}, tj = {0};
    const char *quoted = "Bearer abc/def1234567890ghij";
    assert_int_equal(gw_pii_scrub(mj, GW_PII_ALL, quoted, strlen(quoted), &sj), 1);
    gw_buf_printf(&tj, "{\"auth\":\"%s\"}", sj.data);
    restore_all_splits(mj, 1, tj.data, "{\"auth\":\"Bearer abc/def1234567890ghij\"}");

    gw_buf_free(&sj);
    gw_buf_free(&tj);
    gw_pii_map_free(mj);
    gw_buf_free(&t);
    gw_buf_free(&w);
    gw_buf_free(&sc);
    gw_pii_map_free(m);
}

/* The pii: and output_guard: sections (common/config_safety.c). */
static void test_config_sections(void **state)
{
    char err[256];
    const char *base = "providers: [ { name: echo, type: echo } ]\n"
                       "models: [ { name: e, deployments: [ { provider: echo } ] } ]\n";
    struct gw_config *c = gw_config_parse("t.yaml", base, strlen(base), err, sizeof err);
    assert_non_null(c);
    assert_false(c->pii.enabled);
    assert_int_equal(c->pii.entities, GW_PII_DEFAULT_ENTITIES);
    assert_true(c->pii.restore);
    assert_false(c->output_guard.enabled);
    assert_int_equal(c->output_guard.n_blocked, 0);
    gw_config_free(c);

    char text[512];
    snprintf(text, sizeof text,
             "%spii: { enabled: true, entities: [ssn, ip], restore: false }\n"
             "output_guard: { enabled: true, blocked_patterns: [a b, c] }\n",
             base);
    c = gw_config_parse("t.yaml", text, strlen(text), err, sizeof err);
    assert_non_null(c);
    assert_true(c->pii.enabled);
    assert_int_equal(c->pii.entities, (1u << GW_PII_SSN) | (1u << GW_PII_IP));
    assert_false(c->pii.restore);
    assert_int_equal(c->output_guard.n_blocked, 2);
    assert_string_equal(c->output_guard.blocked_patterns[0], "a b");
    gw_config_free(c);

    snprintf(text, sizeof text, "%spii: { entities: [all] }\n", base);
    c = gw_config_parse("t.yaml", text, strlen(text), err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->pii.entities, GW_PII_ALL);
    gw_config_free(c);

    static const char *const bad[] = {
        "pii: { entities: [email, dna] }\n",
        "unknown entity 'dna'",
        "pii: { entities: email }\n",
        "expected a list",
        "pii: { entities: [ip, ip] }\n",
        "listed twice",
        "pii: { redact: true }\n",
        "unknown key in pii",
        "output_guard: { patterns: [x] }\n",
        "unknown key in output_guard",
        "output_guard: { enabled: maybe }\n",
        "enabled",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i += 2) {
        snprintf(text, sizeof text, "%s%s", base, bad[i]);
        c = gw_config_parse("t.yaml", text, strlen(text), err, sizeof err);
        if (c || !strstr(err, bad[i + 1]) || !strstr(err, "t.yaml:3:"))
            fail_msg("config \"%s\": %s", bad[i], c ? "accepted" : err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),       cmocka_unit_test(test_phone),
        cmocka_unit_test(test_credit_card), cmocka_unit_test(test_ssn),
        cmocka_unit_test(test_iban),        cmocka_unit_test(test_ip),
        cmocka_unit_test(test_secret),      cmocka_unit_test(test_mask_and_order),
        cmocka_unit_test(test_luhn),        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_many_values), cmocka_unit_test(test_restore_splits),
        cmocka_unit_test(test_rescrub),     cmocka_unit_test(test_config_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

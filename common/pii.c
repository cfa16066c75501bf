/* PII detection, placeholders and restoration (see pii.h).
 *
 * DESIGN: the scan visits each byte once and asks the detectors only where a
 * value can begin: never in the middle of a word (the byte before is a
 * letter or a digit), so a detector that fails does not make the next
 * position rescan the same word. Each detector reads a bounded stretch
 * (a phone number at most 32 bytes, an e-mail address at most 64 + 1 + 253)
 * or a run of token characters that later starts skip (a secret), so the
 * whole scan is linear in the text. A first pass (memchr and a digit
 * search) drops the detectors that cannot match at all (no '@': no e-mail
 * address; no digit: no number), so prose without either costs little more
 * than reading it. Where formats overlap, the first
 * detector in this order that accepts a position wins: secret, e-mail,
 * IBAN, card, SSN, IPv6, IPv4, phone.
 *
 * Look-alikes the detectors turn down on purpose (tests/unit/test_pii.c has
 * each): digits inside words or longer digit runs; card numbers failing
 * Luhn or not starting 2-6; SSNs with area 000, 666 or 9xx, group 00 or
 * serial 0000, and bare 9-digit runs; IBANs failing mod-97; dotted quads
 * with an octet over 255; ':' runs that are times or MAC addresses; digit
 * groups that are dates, versions, ZIP+4 codes, or any run without
 * separators and without a leading '+'.
 *
 * The map is an array of entries plus an open-addressing index on (type,
 * hash), so scrubbing many values and restoring many placeholders stay
 * linear too. */
#include "pii.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types ------------------------------------------------------------------ */

static const char *const names[GW_PII_N_TYPES] = {"email", "phone", "credit_card", "ssn",
                                                  "iban",  "ip",    "secret"};
static const char *const tags[GW_PII_N_TYPES] = {"EMAIL", "PHONE", "CREDIT_CARD", "SSN",
                                                 "IBAN",  "IP",    "SECRET"};

const char *gw_pii_type_name(enum gw_pii_type t)
{
    return (unsigned)t < GW_PII_N_TYPES ? names[t] : "?";
}

const char *gw_pii_type_tag(enum gw_pii_type t)
{
    return (unsigned)t < GW_PII_N_TYPES ? tags[t] : "?";
}

int gw_pii_type_from_name(const char *name)
{
    for (int i = 0; i < GW_PII_N_TYPES; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* ---- character classes -------------------------------------------------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_alpha(int c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* characters of API keys and tokens */
static int is_tok(int c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

/* the local part of an e-mail address (the common, unquoted form) */
static int is_local(int c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int at(const char *s, size_t n, size_t i)
{
    return i < n ? (unsigned char)s[i] : 0;
}

/* ---- checks ----------------------------------------------------------------- */

int gw_pii_luhn_ok(const char *d, size_t n)
{
    int sum = 0;
    for (size_t k = 0; k < n; k++) {
        if (!is_digit(d[n - 1 - k]))
            return 0;
        int v = d[n - 1 - k] - '0';
        if (k % 2 == 1 && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

int gw_pii_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34 || !is_upper(s[0]) || !is_upper(s[1]) || !is_digit(s[2]) ||
        !is_digit(s[3]))
        return 0;
    int check = (s[2] - '0') * 10 + (s[3] - '0');
    if (check < 2 || check > 98)
        return 0;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n]; /* the first four go last */
        if (is_digit(c))
            rem = (rem * 10 + (c - '0')) % 97;
        else if (is_upper(c))
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return 0;
    }
    return rem == 1;
}

/* ---- detectors ------------------------------------------------------------------
 * Each looks at position i (the scan has checked the byte before is not a
 * letter or digit) and returns the length of the value found there, 0 for
 * none; *start may move the value's start forward (a bearer token begins
 * after the word Bearer). */

static size_t tok_run(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_tok((unsigned char)s[j]))
        j++;
    return j - i;
}

static int prefix_is(const char *s, size_t n, size_t i, const char *p)
{
    size_t k = strlen(p);
    return n - i >= k && memcmp(s + i, p, k) == 0;
}

/* A JWT: base64url header and payload that both begin with '{"' (eyJ),
 * then the signature; an unsigned token (empty signature) is header.payload. */
static size_t jwt(const char *s, size_t n, size_t i)
{
    if (!prefix_is(s, n, i, "eyJ"))
        return 0;
    size_t a = tok_run(s, n, i);
    size_t j = i + a;
    if (a < 8 || at(s, n, j) != '.' || !prefix_is(s, n, j + 1, "eyJ"))
        return 0;
    size_t b = tok_run(s, n, j + 1);
    if (b < 8)
        return 0;
    j += 1 + b;
    if (at(s, n, j) == '.') {
        size_t c = tok_run(s, n, j + 1);
        if (c > 0)
            return j + 1 + c - i;
    }
    return j - i;
}

/* "Bearer <token>": the token (16+ characters of the token68 set, with a
 * letter and a digit), not the word. */
static size_t bearer(const char *s, size_t n, size_t i, size_t *start)
{
    static const char word[] = "bearer";
    for (size_t k = 0; k < 6; k++) {
        int c = at(s, n, i + k);
        if ((c | 0x20) != word[k])
            return 0;
    }
    size_t j = i + 6;
    if (at(s, n, j) != ' ')
        return 0;
    while (at(s, n, j) == ' ' && j - i < 10)
        j++;
    size_t k = j;
    int alpha = 0, digit = 0;
    for (; k < n; k++) {
        int c = (unsigned char)s[k];
        if (is_alpha(c))
            alpha = 1;
        else if (is_digit(c))
            digit = 1;
        else if (!strchr("-._~+/=", c) || c == 0)
            break;
    }
    if (k - j < 16 || !alpha || !digit)
        return 0;
    *start = j;
    return k - j;
}

/* PREFIX then a token of at least min characters (exactly exact, if not
 * 0) after it, ending at a non-token character; 0 when not. */
static size_t after_prefix(const char *s, size_t n, size_t i, size_t plen, size_t min, int cls,
                           size_t exact)
{
    size_t j = i + plen, k = j;
    while (k < n) {
        int c = (unsigned char)s[k];
        int ok = cls == 0 ? is_tok(c) : cls == 1 ? is_alnum(c) : (is_upper(c) || is_digit(c));
        if (!ok)
            break;
        k++;
    }
    if (k - j < min || (exact && k - j != exact) || is_tok(at(s, n, k)))
        return 0;
    return k - i;
}

static size_t secret(const char *s, size_t n, size_t i, size_t *start)
{
    /* prefix, class of what follows (0 token characters, 1 letters and
     * digits, 2 capitals and digits), least length, exact length */
    static const struct {
        const char *prefix;
        int cls;
        size_t min, exact;
    } kinds[] = {
        {"sk-", 0, 20, 0},      {"sk_live_", 1, 16, 0},    {"sk_test_", 1, 16, 0},
        {"rk_live_", 1, 16, 0}, {"rk_test_", 1, 16, 0},    {"AKIA", 2, 16, 16},
        {"ASIA", 2, 16, 16},    {"AIza", 0, 35, 35},       {"ghp_", 1, 30, 0},
        {"gho_", 1, 30, 0},     {"ghu_", 1, 30, 0},        {"ghs_", 1, 30, 0},
        {"ghr_", 1, 30, 0},     {"github_pat_", 0, 22, 0}, {"glpat-", 0, 20, 0},
        {"xoxb-", 0, 10, 0},    {"xoxa-", 0, 10, 0},       {"xoxp-", 0, 10, 0},
        {"xoxr-", 0, 10, 0},    {"xoxs-", 0, 10, 0},
    };
    if (i > 0 && is_tok((unsigned char)s[i - 1]))
        return 0;
    if (s[i] == 'e')
        return jwt(s, n, i);
    if (s[i] == 'B' || s[i] == 'b')
        return bearer(s, n, i, start);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        if (kinds[k].prefix[0] != s[i] || !prefix_is(s, n, i, kinds[k].prefix))
            continue;
        size_t len = after_prefix(s, n, i, strlen(kinds[k].prefix), kinds[k].min, kinds[k].cls,
                                  kinds[k].exact);
        if (len)
            return len;
    }
    return 0;
}

/* local@domain: local 1-64 characters, domain two or more labels of
 * letters, digits and inner hyphens, ending in a top-level domain of two
 * or more letters; a trailing dot is punctuation, not the domain's. */
static size_t email(const char *s, size_t n, size_t i)
{
    if ((i > 0 && is_local((unsigned char)s[i - 1])) || s[i] == '.' ||
        !is_local((unsigned char)s[i]))
        return 0;
    size_t j = i;
    while (j < n && j - i <= 64 && is_local((unsigned char)s[j]))
        j++;
    if (j - i > 64 || at(s, n, j) != '@')
        return 0;
    size_t d = ++j, labels = 0, last = 0, end = 0;
    for (;;) {
        size_t l = j;
        while (j < n && j - d < 253 && (is_alnum((unsigned char)s[j]) || s[j] == '-'))
            j++;
        if (j == l || s[l] == '-' || s[j - 1] == '-')
            break;
        labels++;
        last = l;
        end = j;
        if (at(s, n, j) == '.' && is_alnum(at(s, n, j + 1)))
            j++;
        else
            break;
    }
    if (labels < 2 || end - last < 2)
        return 0;
    for (size_t k = last; k < end; k++)
        if (!is_alpha((unsigned char)s[k]))
            return 0;
    if (is_alnum(at(s, n, end)) || at(s, n, end) == '-' || at(s, n, end) == '@')
        return 0;
    return end - i;
}

/* CCdd then 11-30 more capitals and digits, compact or in groups of four
 * separated by one space (the last group may be shorter); mod-97 checked.
 * A spaced IBAN followed by more capitals is tried group by group, longest
 * first. */
static size_t iban(const char *s, size_t n, size_t i)
{
    if (!is_upper(at(s, n, i)) || !is_upper(at(s, n, i + 1)) || !is_digit(at(s, n, i + 2)) ||
        !is_digit(at(s, n, i + 3)))
        return 0;
    char compact[40];
    memcpy(compact, s + i, 4);
    size_t c = 4, j = i + 4;
    int up = is_upper(at(s, n, j)) || is_digit(at(s, n, j));
    if (up) {
        while (j < n && c < 35 && (is_upper((unsigned char)s[j]) || is_digit((unsigned char)s[j])))
            compact[c++] = s[j++];
        if (c > 34 || is_alnum(at(s, n, j)))
            return 0;
        return gw_pii_iban_ok(compact, c) ? j - i : 0;
    }
    size_t ends[10], lens[10], n_ends = 0;
    while (at(s, n, j) == ' ' && n_ends < 8) {
        size_t g = j + 1, k = g;
        while (k < n && k - g < 4 &&
               (is_upper((unsigned char)s[k]) || is_digit((unsigned char)s[k])))
            k++;
        if (k == g || c + (k - g) > 34)
            break;
        memcpy(compact + c, s + g, k - g);
        c += k - g;
        j = k;
        ends[n_ends] = j;
        lens[n_ends++] = c;
        if (k - g < 4)
            break;
    }
    while (n_ends > 0) {
        n_ends--;
        if (!is_alnum(at(s, n, ends[n_ends])) && gw_pii_iban_ok(compact, lens[n_ends]))
            return ends[n_ends] - i;
    }
    return 0;
}

/* Digits in groups with one kind of separator between them. */
struct groups {
    size_t n;        /* groups read */
    size_t len[20];  /* digits in each */
    size_t end[20];  /* the offset after each */
    char digits[24]; /* all the digits */
    size_t n_digits;
    int sep;  /* the separator, 0 none */
    int over; /* the digits went on past max_digits (in a group not counted) */
};

static void read_groups(const char *s, size_t n, size_t i, const char *seps, size_t max_digits,
                        struct groups *g)
{
    memset(g, 0, sizeof *g);
    size_t j = i;
    while (g->n < 20) {
        size_t k = j;
        while (k < n && is_digit((unsigned char)s[k])) {
            if (g->n_digits == max_digits) {
                g->over = 1;
                return;
            }
            g->digits[g->n_digits++] = s[k++];
        }
        if (k == j)
            return;
        g->len[g->n] = k - j;
        g->end[g->n++] = k;
        int c = at(s, n, k);
        if (!c || !strchr(seps, c) || !is_digit(at(s, n, k + 1)) || (g->sep && c != g->sep))
            return;
        g->sep = c;
        j = k + 1;
    }
}

/* 13-19 digits starting 2-6, in one run or in groups (the first of four
 * digits, the others of three to six) separated by one kind of separator;
 * Luhn-checked. Grouped digits followed by more groups are tried at each
 * group end, longest first, when a space separates them (a card number
 * then an expiry or a code); a dashed run that goes on is a longer id. */
static size_t card(const char *s, size_t n, size_t i)
{
    int c0 = at(s, n, i);
    if (c0 < '2' || c0 > '6' || (i > 0 && strchr(".-+,", s[i - 1])))
        return 0;
    struct groups g;
    read_groups(s, n, i, " -", 19, &g);
    if (g.n == 0 || (g.n == 1 && g.over))
        return 0;
    if (g.n == 1) {
        int after = at(s, n, g.end[0]);
        if (g.len[0] < 13 || is_alnum(after) || (after == '.' && is_digit(at(s, n, g.end[0] + 1))))
            return 0;
        return gw_pii_luhn_ok(g.digits, g.len[0]) ? g.len[0] : 0;
    }
    if (g.len[0] != 4)
        return 0;
    size_t digits = g.n_digits;
    for (size_t k = g.n; k-- > 1; digits -= g.len[k]) {
        if (digits < 13)
            break;
        if (digits > 19 || g.len[k] < 3 || g.len[k] > 6)
            continue;
        if ((k + 1 < g.n || g.over) && g.sep != ' ')
            return 0;
        int after = at(s, n, g.end[k]);
        if (is_alnum(after) || (after == '.' && is_digit(at(s, n, g.end[k] + 1))))
            continue;
        int ok = 1;
        for (size_t q = 1; q < k && ok; q++)
            ok = g.len[q] >= 3 && g.len[q] <= 6;
        if (ok && gw_pii_luhn_ok(g.digits, digits))
            return g.end[k] - i;
    }
    return 0;
}

/* ddd-dd-dddd (or with spaces): area not 000, 666 or 9xx; group not 00;
 * serial not 0000. */
static size_t ssn(const char *s, size_t n, size_t i)
{
    if (i > 0 && strchr(".-+,/", s[i - 1]))
        return 0;
    if (n - i < 11)
        return 0;
    const char *p = s + i;
    int sep = p[3];
    if ((sep != '-' && sep != ' ') || p[6] != sep)
        return 0;
    for (int k = 0; k < 11; k++)
        if (k != 3 && k != 6 && !is_digit((unsigned char)p[k]))
            return 0;
    int after = at(s, n, i + 11);
    if (is_alnum(after) || ((after == '-' || after == '.') && is_digit(at(s, n, i + 12))))
        return 0;
    int area = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    if (area == 0 || area == 666 || area >= 900 || (p[4] == '0' && p[5] == '0') ||
        memcmp(p + 7, "0000", 4) == 0)
        return 0;
    return 11;
}

/* Dotted quad, each octet 0-255 (at most three digits). */
static size_t ipv4_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    for (int o = 0; o < 4; o++) {
        if (o > 0) {
            if (at(s, n, j) != '.')
                return 0;
            j++;
        }
        size_t k = j;
        int v = 0;
        while (k < n && k - j < 3 && is_digit((unsigned char)s[k]))
            v = v * 10 + (s[k++] - '0');
        if (k == j || v > 255 || is_digit(at(s, n, k)))
            return 0;
        j = k;
    }
    if (is_alnum(at(s, n, j)) || (at(s, n, j) == '.' && is_digit(at(s, n, j + 1))))
        return 0;
    return j - i;
}

static size_t ipv4(const char *s, size_t n, size_t i)
{
    if (!is_digit(at(s, n, i)) || (i > 0 && strchr(".:", s[i - 1])))
        return 0;
    return ipv4_at(s, n, i);
}

/* Eight groups of 1-4 hex digits, or fewer around one "::" (with at least
 * three hex digits in all, so "a::b" stays text); the last two groups may be
 * a dotted quad. */
static size_t ipv6(const char *s, size_t n, size_t i)
{
    int c = at(s, n, i);
    if (!(is_hex(c) || (c == ':' && at(s, n, i + 1) == ':')) || (i > 0 && strchr(":.", s[i - 1])))
        return 0;
    size_t j = i, end = i;
    int groups = 0, dbl = 0, hexdigits = 0;
    if (c == ':') {
        dbl = 1;
        j += 2;
        end = j;
    }
    while (groups < 8) {
        size_t k = j;
        while (k < n && k - j < 5 && is_hex((unsigned char)s[k]))
            k++;
        if (k == j)
            break;
        if (at(s, n, k) == '.') { /* the last 32 bits as a dotted quad */
            size_t q = groups <= 6 ? ipv4_at(s, n, j) : 0;
            if (!q)
                return 0;
            groups += 2;
            hexdigits += 4;
            end = j + q;
            break;
        }
        if (k - j > 4 || is_alnum(at(s, n, k)))
            return 0;
        groups++;
        hexdigits += (int)(k - j);
        end = k;
        if (at(s, n, k) == ':' && at(s, n, k + 1) == ':' && !dbl) {
            dbl = 1;
            j = end = k + 2;
            continue;
        }
        if (at(s, n, k) == ':' && is_hex(at(s, n, k + 1))) {
            j = k + 1;
            continue;
        }
        break;
    }
    if (dbl ? (groups > 7 || hexdigits < 3) : groups != 8)
        return 0;
    int after = at(s, n, end);
    if (is_alnum(after) || (after == ':' && is_hex(at(s, n, end + 1))))
        return 0;
    return end - i;
}

/* Phone numbers: '+' and 8-15 digits (E.164, with or without separators
 * and a "(0)" trunk prefix); or, without '+', digits in groups with
 * separators: NANP (ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd,
 * 1 ddd ddd dddd, or a national number starting 0 (10-11 digits in 2-5
 * groups of 2-7). A run of groups continued by a space is tried group by
 * group, longest first; by a '-' or '.', not at all (a longer id). */
struct ph_group {
    size_t len, end;
    int paren; /* written (ddd) */
    int sep;   /* the separator before it: ' ', '-', '.', 0 none, '(' directly */
};

static int nanp(const struct ph_group *g, size_t k, const char *digits)
{
    /* [1] ddd ddd dddd with one separator kind (a "(ddd)" area code may be
     * followed by a space or nothing) */
    size_t first = 0;
    if (k == 4 && g[0].len == 1 && digits[0] == '1' && !g[0].paren)
        first = 1;
    if (k - first != 3 || g[first].len != 3 || g[first + 1].len != 3 || g[first + 2].len != 4)
        return 0;
    const char *area = digits + first;
    if (area[0] < '2' || area[3] < '2')
        return 0;
    int s1 = g[first + 1].sep, s2 = g[first + 2].sep;
    if (g[first].paren)
        return (s1 == ' ' || s1 == 0) && (s2 == '-' || s2 == ' ' || s2 == '.');
    if (s1 == 0 || s1 != s2)
        return 0;
    return !first || g[1].sep == s1;
}

static size_t phone(const char *s, size_t n, size_t i)
{
    int plus = at(s, n, i) == '+';
    if (i > 0 && strchr(".-+/,_", s[i - 1]))
        return 0;
    size_t j = i + (size_t)plus;
    struct ph_group g[12];
    char digits[24];
    size_t k = 0, nd = 0;
    int sep = 0;
    while (k < 12 && j - i < 32) {
        int paren = at(s, n, j) == '(';
        size_t d = j + (size_t)paren, e = d;
        while (e < n && is_digit((unsigned char)s[e]) && nd < 20)
            digits[nd++] = s[e++];
        if (e == d || (paren && at(s, n, e) != ')') || nd >= 20)
            break;
        g[k].len = e - d;
        g[k].paren = paren;
        g[k].sep = sep;
        g[k].end = e + (size_t)paren;
        k++;
        j = g[k - 1].end;
        int c = at(s, n, j);
        if (paren && (is_digit(c) || c == '(')) {
            sep = 0;
            continue; /* (0)20... */
        }
        if (c == '(') {
            sep = '(';
            continue;
        }
        if ((c == ' ' || c == '-' || c == '.') &&
            (is_digit(at(s, n, j + 1)) || (at(s, n, j + 1) == '(' && is_digit(at(s, n, j + 2))))) {
            sep = c;
            j++;
            continue;
        }
        break;
    }
    if (k == 0)
        return 0;
    /* candidates: all groups, then (only when a space separates) fewer */
    for (size_t m = k; m >= 1; m--) {
        if (m < k && g[m].sep != ' ')
            break;
        size_t end = g[m - 1].end, total = 0;
        for (size_t q = 0; q < m; q++)
            total += g[q].len;
        int after = at(s, n, end);
        if (is_alnum(after) || ((after == '.' || after == '-') && is_digit(at(s, n, end + 1))))
            continue;
        int ok;
        if (plus && m == 1) {
            ok = total >= 8 && total <= 15;
        } else if (plus && g[0].len == 1 && digits[0] == '1') {
            ok = nanp(g, m, digits); /* +1: the NANP groups */
        } else if (plus) {
            ok = total >= 8 && total <= 15 && !g[0].paren && g[0].len <= 3;
            for (size_t q = 1; q < m && ok; q++)
                ok = g[q].len <= 8 || m == 2;
        } else if (m < 2) {
            ok = 0;
        } else if (nanp(g, m, digits)) {
            ok = 1;
        } else {
            ok = digits[0] == '0' && total >= 10 && total <= 11 && m <= 5;
            for (size_t q = 0; q < m && ok; q++)
                ok = g[q].len >= 2 && g[q].len <= 7 && !g[q].paren &&
                     (q == 0 || g[q].sep == g[1].sep) && g[q].sep != '.';
        }
        if (ok)
            return end - i;
    }
    return 0;
}

/* ---- the scan ----------------------------------------------------------------- */

/* Bytes a value may start with (CLASS_START), and letters and digits
 * (CLASS_ALNUM), after which no value starts. */
enum { CLASS_ALNUM = 1, CLASS_START = 2 };
static const unsigned char byte_class[256] = {
    ['0' ... '9'] = CLASS_ALNUM | CLASS_START,
    ['A' ... 'Z'] = CLASS_ALNUM | CLASS_START,
    ['a' ... 'z'] = CLASS_ALNUM | CLASS_START,
    ['+'] = CLASS_START,
    ['('] = CLASS_START,
    [':'] = CLASS_START,
    ['_'] = CLASS_START,
    ['%'] = CLASS_START,
    ['-'] = CLASS_START,
};

/* Which detectors can match anything in s at all: an e-mail address needs
 * an '@', every number a digit, an IPv6 address a ':'. One pass (memchr for
 * the rare bytes) that saves asking them at every word of plain prose. */
static unsigned possible(const char *s, size_t n, unsigned mask)
{
    int digit = 0;
    for (size_t i = 0; i < n && !digit; i++)
        digit = is_digit((unsigned char)s[i]);
    if (!memchr(s, '@', n))
        mask &= ~(1u << GW_PII_EMAIL);
    if (!digit)
        mask &= ~((1u << GW_PII_PHONE) | (1u << GW_PII_CREDIT_CARD) | (1u << GW_PII_SSN) |
                  (1u << GW_PII_IBAN));
    if (!digit && !memchr(s, ':', n))
        mask &= ~(1u << GW_PII_IP);
    return mask;
}

/* The first bytes each kind of value can start with. */
static int may_start(int c, enum gw_pii_type t)
{
    switch (t) {
    case GW_PII_SECRET:
        return c && strchr("srAgxeBb", c) != NULL;
    case GW_PII_EMAIL:
        return is_local(c) && c != '.';
    case GW_PII_IBAN:
        return is_upper(c);
    case GW_PII_CREDIT_CARD:
    case GW_PII_SSN:
        return is_digit(c);
    case GW_PII_IP:
        return is_hex(c) || c == ':';
    case GW_PII_PHONE:
        return is_digit(c) || c == '+' || c == '(';
    default:
        return 0;
    }
}

size_t gw_pii_scan(const char *s, size_t n, unsigned mask, gw_pii_found_fn fn, void *arg)
{
    size_t found = 0, i = 0;
    mask = n ? possible(s, n, mask) : 0;
    if (!mask)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        int c = u[i];
        if (!(byte_class[c] & CLASS_START) || (i > 0 && (byte_class[u[i - 1]] & CLASS_ALNUM))) {
            i++; /* no value starts here, or inside a word */
            continue;
        }
        struct gw_pii_span sp = {i, 0, GW_PII_SECRET};
        size_t start = i, len = 0;
#define TRY(t) ((mask & (1u << (t))) && may_start(c, (t)))
        if (TRY(GW_PII_SECRET) && (len = secret(s, n, i, &start)))
            sp.type = GW_PII_SECRET;
        else if (TRY(GW_PII_EMAIL) && (len = email(s, n, i)))
            sp.type = GW_PII_EMAIL;
        else if (TRY(GW_PII_IBAN) && (len = iban(s, n, i)))
            sp.type = GW_PII_IBAN;
        else if (TRY(GW_PII_CREDIT_CARD) && (len = card(s, n, i)))
            sp.type = GW_PII_CREDIT_CARD;
        else if (TRY(GW_PII_SSN) && (len = ssn(s, n, i)))
            sp.type = GW_PII_SSN;
        else if (TRY(GW_PII_IP) && ((len = ipv6(s, n, i)) || (len = ipv4(s, n, i))))
            sp.type = GW_PII_IP;
        else if (TRY(GW_PII_PHONE) && (len = phone(s, n, i)))
            sp.type = GW_PII_PHONE;
#undef TRY
        if (!len) {
            i++;
            continue;
        }
        sp.start = start;
        sp.len = len;
        found++;
        if (fn && fn(arg, &sp) != 0)
            break;
        i = start + len;
    }
    return found;
}

/* ---- the process key and placeholders ------------------------------------------- */

static unsigned char process_key[crypto_generichash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    if (sodium_init() < 0)
        abort(); /* libsodium cannot work on this machine: nothing can */
    randombytes_buf(process_key, sizeof process_key);
}

static uint32_t keyed_hash(enum gw_pii_type t, unsigned salt, const char *v, size_t n)
{
    unsigned char head[2] = {(unsigned char)t, (unsigned char)salt}, out[16];
    crypto_generichash_state st;
    pthread_once(&key_once, make_key);
    crypto_generichash_init(&st, process_key, sizeof process_key, sizeof out);
    crypto_generichash_update(&st, head, sizeof head);
    crypto_generichash_update(&st, (const unsigned char *)v, n);
    crypto_generichash_final(&st, out, sizeof out);
    return (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
}

static int placeholder(char *buf, size_t cap, enum gw_pii_type t, uint32_t h)
{
    return snprintf(buf, cap, "<<PII_%s_%08x>>", tags[t], (unsigned)h);
}

/* ---- the map ---------------------------------------------------------------------- */

struct pii_entry {
    uint32_t h;
    enum gw_pii_type type;
    char *value; /* malloc'd, NUL-terminated */
    size_t len;
};

struct gw_pii_map {
    struct pii_entry *e;
    size_t n, cap;
    size_t *slot; /* entry index + 1; 0 empty */
    size_t n_slots;
    long replaced[GW_PII_N_TYPES];
};

struct gw_pii_map *gw_pii_map_new(void)
{
    return calloc(1, sizeof(struct gw_pii_map));
}

void gw_pii_map_free(struct gw_pii_map *m)
{
    if (!m)
        return;
    for (size_t k = 0; k < m->n; k++)
        free(m->e[k].value);
    free(m->e);
    free(m->slot);
    free(m);
}

size_t gw_pii_map_size(const struct gw_pii_map *m)
{
    return m ? m->n : 0;
}

long gw_pii_map_replaced(const struct gw_pii_map *m, enum gw_pii_type t)
{
    return m && (unsigned)t < GW_PII_N_TYPES ? m->replaced[t] : 0;
}

static size_t slot_of(const struct gw_pii_map *m, enum gw_pii_type t, uint32_t h)
{
    return (size_t)((h ^ ((uint32_t)t * 0x9e3779b9u)) * 2654435761u) & (m->n_slots - 1);
}

/* The entry of (t, h), or NULL. */
static struct pii_entry *find(const struct gw_pii_map *m, enum gw_pii_type t, uint32_t h)
{
    if (!m || !m->n_slots)
        return NULL;
    for (size_t s = slot_of(m, t, h);; s = (s + 1) & (m->n_slots - 1)) {
        if (!m->slot[s])
            return NULL;
        struct pii_entry *e = &m->e[m->slot[s] - 1];
        if (e->h == h && e->type == t)
            return e;
    }
}

static int grow(struct gw_pii_map *m)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct pii_entry *e = realloc(m->e, cap * sizeof *e);
        if (!e)
            return -1;
        m->e = e;
        m->cap = cap;
    }
    if ((m->n + 1) * 2 > m->n_slots) {
        size_t ns = m->n_slots ? m->n_slots * 2 : 16;
        size_t *slot = calloc(ns, sizeof *slot);
        if (!slot)
            return -1;
        free(m->slot);
        m->slot = slot;
        m->n_slots = ns;
        for (size_t k = 0; k < m->n; k++) {
            size_t s = slot_of(m, m->e[k].type, m->e[k].h);
            while (m->slot[s])
                s = (s + 1) & (ns - 1);
            m->slot[s] = k + 1;
        }
    }
    return 0;
}

/* The hash a value's placeholder carries: an existing entry's, or a new
 * one's (a colliding hash of another value is salted until free). */
static int add(struct gw_pii_map *m, enum gw_pii_type t, const char *v, size_t n, uint32_t *out)
{
    for (unsigned salt = 0; salt < 256; salt++) {
        uint32_t h = keyed_hash(t, salt, v, n);
        struct pii_entry *e = find(m, t, h);
        if (e && e->len == n && memcmp(e->value, v, n) == 0) {
            *out = h;
            return 0;
        }
        if (e)
            continue;
        if (grow(m) != 0)
            return -1;
        char *copy = malloc(n + 1);
        if (!copy)
            return -1;
        memcpy(copy, v, n);
        copy[n] = '\0';
        m->e[m->n] = (struct pii_entry){.h = h, .type = t, .value = copy, .len = n};
        size_t s = slot_of(m, t, h);
        while (m->slot[s])
            s = (s + 1) & (m->n_slots - 1);
        m->slot[s] = ++m->n;
        *out = h;
        return 0;
    }
    return -1; /* 256 collisions in a row: not with a working hash */
}

struct scrub {
    struct gw_pii_map *m;
    const char *s;
    struct gw_buf *out;
    size_t done; /* text copied up to here */
    long n;
    int err;
};

static int on_value(void *arg, const struct gw_pii_span *sp)
{
    struct scrub *sc = arg;
    uint32_t h;
    char ph[GW_PII_PLACEHOLDER_MAX + 1];
    if (add(sc->m, sp->type, sc->s + sp->start, sp->len, &h) != 0 ||
        gw_buf_append(sc->out, sc->s + sc->done, sp->start - sc->done) != 0 ||
        gw_buf_append(sc->out, ph, (size_t)placeholder(ph, sizeof ph, sp->type, h)) != 0) {
        sc->err = 1;
        return 1;
    }
    sc->m->replaced[sp->type]++;
    sc->done = sp->start + sp->len;
    sc->n++;
    return 0;
}

long gw_pii_scrub(struct gw_pii_map *m, unsigned mask, const char *s, size_t n, struct gw_buf *out)
{
    struct scrub sc = {.m = m, .s = s, .out = out};
    gw_pii_scan(s, n, mask, on_value, &sc);
    if (sc.err || gw_buf_append(out, s + sc.done, n - sc.done) != 0)
        return -1;
    return sc.n;
}

struct rescrub {
    const struct gw_pii_map *m;
    const char *s;
    struct gw_buf *out;
    size_t done;
    long n;
    int err;
};

static int on_known(void *arg, const struct gw_pii_span *sp)
{
    struct rescrub *rs = arg;
    const char *v = rs->s + sp->start;
    for (unsigned salt = 0; salt < 256; salt++) {
        uint32_t h = keyed_hash(sp->type, salt, v, sp->len);
        const struct pii_entry *e = find(rs->m, sp->type, h);
        if (!e)
            return 0; /* not a value of this request */
        if (e->len != sp->len || memcmp(e->value, v, sp->len) != 0)
            continue; /* another value that collided: salted */
        char ph[GW_PII_PLACEHOLDER_MAX + 1];
        if (gw_buf_append(rs->out, rs->s + rs->done, sp->start - rs->done) != 0 ||
            gw_buf_append(rs->out, ph, (size_t)placeholder(ph, sizeof ph, sp->type, h)) != 0) {
            rs->err = 1;
            return 1;
        }
        rs->done = sp->start + sp->len;
        rs->n++;
        return 0;
    }
    return 0;
}

long gw_pii_rescrub(const struct gw_pii_map *m, const char *s, size_t n, struct gw_buf *out)
{
    struct rescrub rs = {.m = m, .s = s, .out = out};
    unsigned mask = 0;
    for (size_t k = 0; m && k < m->n; k++)
        mask |= 1u << m->e[k].type;
    if (mask)
        gw_pii_scan(s, n, mask, on_known, &rs);
    if (rs.err || gw_buf_append(out, s + rs.done, n - rs.done) != 0)
        return -1;
    return rs.n;
}

/* ---- restore ------------------------------------------------------------------------ */

/* Reads a placeholder at p[0..n): its length (and type and hash) when
 * complete, 0 when p is a proper prefix of one (the text may go on to
 * complete it), -1 when it cannot be one. */
static int parse_placeholder(const char *p, size_t n, enum gw_pii_type *type, uint32_t *hash)
{
    static const char head[] = "<<PII_";
    size_t i = 0;
    for (; i < 6; i++) {
        if (i == n)
            return 0;
        if (p[i] != head[i])
            return -1;
    }
    size_t t0 = i;
    while (i < n && i - t0 < 13 && (is_upper((unsigned char)p[i]) || p[i] == '_'))
        i++;
    size_t tl = i - t0;
    int t = -1;
    for (int k = 0; k < GW_PII_N_TYPES; k++) {
        size_t kl = strlen(tags[k]);
        if (i == n) { /* the tag so far must begin some "TAG_" */
            if (tl <= kl + 1 && memcmp(p + t0, tags[k], tl < kl ? tl : kl) == 0 &&
                (tl <= kl || p[t0 + kl] == '_'))
                return 0;
        } else if (tl == kl + 1 && memcmp(p + t0, tags[k], kl) == 0 && p[t0 + kl] == '_') {
            t = k;
        }
    }
    if (t < 0)
        return -1;
    uint32_t h = 0;
    for (int k = 0; k < 8; k++, i++) {
        if (i == n)
            return 0;
        int c = (unsigned char)p[i];
        if (is_digit(c))
            h = h << 4 | (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            h = h << 4 | (uint32_t)(c - 'a' + 10);
        else
            return -1;
    }
    for (int k = 0; k < 2; k++, i++) {
        if (i == n)
            return 0;
        if (p[i] != '>')
            return -1;
    }
    *type = (enum gw_pii_type)t;
    *hash = h;
    return (int)i;
}

const char *gw_pii_map_lookup(const struct gw_pii_map *m, const char *p, size_t n, size_t *len)
{
    enum gw_pii_type t;
    uint32_t h;
    if (parse_placeholder(p, n, &t, &h) != (int)n)
        return NULL;
    const struct pii_entry *e = find(m, t, h);
    if (!e)
        return NULL;
    *len = e->len;
    return e->value;
}

void gw_pii_restore_init(struct gw_pii_restorer *rs, const struct gw_pii_map *m, int json)
{
    memset(rs, 0, sizeof *rs);
    rs->map = m;
    rs->json = json;
}

/* A value as JSON string content (no quotes). */
static int put_value(struct gw_pii_restorer *rs, const char *v, size_t n, struct gw_buf *out)
{
    if (!rs->json)
        return gw_buf_append(out, v, n);
    size_t from = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)v[k];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        char esc[8];
        int el = c == '"' || c == '\\' ? snprintf(esc, sizeof esc, "\\%c", c)
                                       : snprintf(esc, sizeof esc, "\\u%04x", c);
        if (gw_buf_append(out, v + from, k - from) != 0 || gw_buf_append(out, esc, (size_t)el))
            return -1;
        from = k + 1;
    }
    return gw_buf_append(out, v + from, n - from);
}

/* Restores p[0..n); with final, nothing is held back. */
static int restore(struct gw_pii_restorer *rs, const char *p, size_t n, int final,
                   struct gw_buf *out)
{
    size_t i = 0, from = 0;
    while (i < n) {
        const char *lt = memchr(p + i, '<', n - i);
        if (!lt)
            break;
        size_t j = (size_t)(lt - p);
        enum gw_pii_type t;
        uint32_t h;
        int len = parse_placeholder(p + j, n - j, &t, &h);
        if (len == 0 && !final) { /* undecided: hold the tail back */
            if (gw_buf_append(out, p + from, j - from) != 0)
                return -1;
            memcpy(rs->hold, p + j, n - j);
            rs->n_hold = n - j;
            return 0;
        }
        const struct pii_entry *e = len > 0 ? find(rs->map, t, h) : NULL;
        if (!e) {
            i = j + 1;
            continue;
        }
        if (gw_buf_append(out, p + from, j - from) != 0 || put_value(rs, e->value, e->len, out))
            return -1;
        i = from = j + (size_t)len;
    }
    return gw_buf_append(out, p + from, n - from);
}

int gw_pii_restore_feed(struct gw_pii_restorer *rs, const char *s, size_t n, struct gw_buf *out)
{
    if (!rs->n_hold)
        return restore(rs, s, n, 0, out);
    struct gw_buf joined = {0};
    int rc = gw_buf_append(&joined, rs->hold, rs->n_hold);
    rs->n_hold = 0;
    if (rc == 0)
        rc = gw_buf_append(&joined, s, n);
    if (rc == 0)
        rc = restore(rs, joined.data, joined.len, 0, out);
    gw_buf_free(&joined);
    return rc;
}

int gw_pii_restore_flush(struct gw_pii_restorer *rs, struct gw_buf *out)
{
    size_t n = rs->n_hold;
    rs->n_hold = 0;
    return n ? restore(rs, rs->hold, n, 1, out) : 0;
}

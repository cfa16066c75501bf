/* AWS Signature Version 4 verification of a received request, written for
 * the mock alone (the gateway's signer must agree with it, not share it).
 * The mock knows one credential (MOCK_AWS_ACCESS_KEY / MOCK_AWS_SECRET_KEY)
 * and recomputes the signature from what arrived:
 *
 *   canonical request = method \n canonical URI \n canonical query \n
 *                       canonical headers (the SignedHeaders, "name:value\n")
 *                       \n SignedHeaders \n hex sha256(body)
 *   string to sign    = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n
 *                       hex sha256(canonical request)
 *   key               = HMAC chain "AWS4"+secret → date → region → service →
 *                       "aws4_request"
 *
 * The canonical URI percent-encodes the path as it came over the wire once
 * more (so "%3A" becomes "%253A"), as every non-S3 service expects. SHA-256
 * and HMAC come from OpenSSL. */
#include "mock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#define MOCK_SIGV4_SKEW_S 300

static void mock_hexify(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void mock_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, n, d);
    mock_hexify(d, sizeof d, out);
}

static void mock_hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* RFC 3986 encoding of everything but unreserved characters (and '/' when
 * keep_slash). */
static void mock_aws_encode(struct mock_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
            (keep_slash && ch == '/')) {
            mock_buf_add(b, (const char *)&ch, 1);
        } else {
            char e[3] = {'%', hx[ch >> 4], hx[ch & 15]};
            mock_buf_add(b, e, 3);
        }
    }
}

struct mock_qparam {
    char *key, *val; /* encoded */
};

static int mock_qparam_cmp(const void *a, const void *b)
{
    const struct mock_qparam *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->val, y->val);
}

/* Canonical query: each name and value decoded, encoded again, sorted. */
static bool mock_sigv4_query(const char *q, struct mock_buf *out)
{
    size_t cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    struct mock_qparam *ps = calloc(cap, sizeof *ps);
    size_t n = 0;
    bool ok = ps != NULL;
    for (const char *p = q; ok && *p;) {
        size_t len = strcspn(p, "&");
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            char *k = mock_url_decode(p, kl, false);
            char *v = eq ? mock_url_decode(eq + 1, len - kl - 1, false) : strdup("");
            struct mock_buf kb = {0}, vb = {0};
            if (k && v) {
                mock_aws_encode(&kb, k, strlen(k), false);
                mock_aws_encode(&vb, v, strlen(v), false);
                mock_buf_add(&kb, "", 0);
                mock_buf_add(&vb, "", 0);
            }
            ok = k && v && !kb.oom && !vb.oom;
            ps[n].key = kb.p;
            ps[n++].val = vb.p;
            free(k);
            free(v);
        }
        p += len + (p[len] == '&');
    }
    if (ok)
        qsort(ps, n, sizeof *ps, mock_qparam_cmp);
    for (size_t i = 0; i < n; i++) {
        if (ok) {
            if (i)
                mock_buf_add(out, "&", 1);
            mock_buf_add(out, ps[i].key, strlen(ps[i].key));
            mock_buf_add(out, "=", 1);
            mock_buf_add(out, ps[i].val, strlen(ps[i].val));
        }
        free(ps[i].key);
        free(ps[i].val);
    }
    free(ps);
    return ok;
}

struct mock_hdr_collect {
    const char *name;
    struct mock_buf *out;
    int seen;
};

/* Appends one value of the header being collected: trimmed, inner runs of
 * spaces collapsed, several values joined with ','. */
static enum MHD_Result mock_sigv4_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct mock_hdr_collect *h = cls;
    if (strcasecmp(key, h->name) != 0)
        return MHD_YES;
    if (h->seen++)
        mock_buf_add(h->out, ",", 1);
    const char *v = value ? value : "";
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++) {
        if ((v[i] == ' ' || v[i] == '\t') && i && (v[i - 1] == ' ' || v[i - 1] == '\t'))
            continue;
        mock_buf_add(h->out, v[i] == '\t' ? " " : &v[i], 1);
    }
    return MHD_YES;
}

static const char *mock_header(const struct mock_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, name);
}

/* "Name=value" item of the Authorization header, copied into out. */
static bool mock_auth_item(const char *auth, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = auth; (p = strstr(p, name)) != NULL; p += nl) {
        if ((p == auth || p[-1] == ' ' || p[-1] == ',') && p[nl] == '=') {
            size_t n = strcspn(p + nl + 1, ", ");
            if (n >= cap)
                return false;
            memcpy(out, p + nl + 1, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

/* The x-amz-date checks: format, the credential scope's date, the clock. */
static bool mock_sigv4_date(const char *amz, const char *scope_date, struct mock_verdict *v)
{
    struct tm tm = {0};
    const char *end = amz ? strptime(amz, "%Y%m%dT%H%M%SZ", &tm) : NULL;
    if (!end || *end)
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "x-amz-date must be an ISO 8601 basic date such as 20240101T000000Z");
    if (strncmp(amz, scope_date, 8) != 0 || strlen(scope_date) != 8)
        return mock_fail(v, 403, "InvalidSignatureException",
                         "Date in Credential scope does not match YYYYMMDD from x-amz-date");
    long long when = (long long)timegm(&tm), now = (long long)(mock_wall_ms() / 1000);
    if (when < now - MOCK_SIGV4_SKEW_S || when > now + MOCK_SIGV4_SKEW_S)
        return mock_fail(v, 403, "InvalidSignatureException",
                         "Signature expired: %s is more than 5 minutes away from the mock's "
                         "clock (%lld s off)",
                         amz, when - now);
    return true;
}

/* Builds the canonical request into cr; the signed header names come
 * sorted in `signed_headers` (';'-joined). */
static bool mock_sigv4_canonical(const struct mock_call *call, const char *signed_headers,
                                 struct mock_buf *cr, struct mock_verdict *v)
{
    const char *t = call->target;
    size_t plen = strcspn(t, "?");
    char body_hash[65];
    mock_sha256_hex(call->body, call->len, body_hash);
    const char *sent_hash = mock_header(call, "x-amz-content-sha256");
    if (sent_hash && strcmp(sent_hash, body_hash) != 0 && strcmp(sent_hash, "UNSIGNED-PAYLOAD"))
        return mock_fail(v, 403, "InvalidSignatureException",
                         "x-amz-content-sha256 is not the SHA-256 of the body (%s)", body_hash);

    mock_buf_add(cr, call->method, strlen(call->method));
    mock_buf_add(cr, "\n", 1);
    if (plen)
        mock_aws_encode(cr, t, plen, true);
    else
        mock_buf_add(cr, "/", 1);
    mock_buf_add(cr, "\n", 1);
    if (t[plen] == '?' && !mock_sigv4_query(t + plen + 1, cr))
        return mock_fail(v, 400, "ValidationException", "malformed query string");
    mock_buf_add(cr, "\n", 1);
    for (const char *p = signed_headers; *p;) {
        size_t n = strcspn(p, ";");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        mock_buf_add(cr, name, strlen(name));
        mock_buf_add(cr, ":", 1);
        struct mock_hdr_collect h = {.name = name, .out = cr};
        MHD_get_connection_values(call->conn, MHD_HEADER_KIND, mock_sigv4_header, &h);
        mock_buf_add(cr, "\n", 1);
        p += n + (p[n] == ';');
    }
    mock_buf_add(cr, "\n", 1);
    mock_buf_add(cr, signed_headers, strlen(signed_headers));
    mock_buf_add(cr, "\n", 1);
    mock_buf_add(cr, body_hash, 64);
    return !cr->oom || mock_fail(v, 500, "InternalServerException", "out of memory");
}

static int mock_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The SignedHeaders list sorted (lower-cased), into out; checks that host,
 * x-amz-date and (when sent) x-amz-security-token are among them. */
static bool mock_sigv4_signed(const struct mock_call *call, const char *list, char *out, size_t cap,
                              struct mock_verdict *v)
{
    char copy[1024], *names[64];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", list);
    for (char *p = copy; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *save = NULL, *tok = strtok_r(copy, ";", &save); tok && n < 64;
         tok = strtok_r(NULL, ";", &save))
        names[n++] = tok;
    qsort(names, (size_t)n, sizeof *names, mock_strcmp_p);
    bool host = false, date = false, token = false;
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        host |= strcmp(names[i], "host") == 0;
        date |= strcmp(names[i], "x-amz-date") == 0;
        token |= strcmp(names[i], "x-amz-security-token") == 0;
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", i ? ";" : "", names[i]);
    }
    if (o >= cap)
        return mock_fail(v, 403, "IncompleteSignatureException", "SignedHeaders is too long");
    if (!host || !date)
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "SignedHeaders must include host and x-amz-date (got '%s')", list);
    if (mock_header(call, "x-amz-security-token") && !token)
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "x-amz-security-token is sent but not among SignedHeaders");
    return true;
}

bool mock_sigv4_verify(const struct mock_call *call, const char *service, struct mock_verdict *v)
{
    const char *auth = mock_header(call, "authorization");
    char cred[256], list[1024], sig[128], sorted[1024];
    char akid[64], date[16], region[64], svc[64], term[32];

    if (!auth || !*auth)
        return mock_fail(v, 403, "MissingAuthenticationTokenException",
                         "Missing Authentication Token");
    if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0)
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "Authorization header must start with 'AWS4-HMAC-SHA256 '");
    if (!mock_auth_item(auth + 17, "Credential", cred, sizeof cred) ||
        !mock_auth_item(auth + 17, "SignedHeaders", list, sizeof list) ||
        !mock_auth_item(auth + 17, "Signature", sig, sizeof sig))
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "Authorization header requires Credential, SignedHeaders and Signature");
    if (sscanf(cred, "%63[^/]/%15[^/]/%63[^/]/%63[^/]/%31s", akid, date, region, svc, term) != 5 ||
        strcmp(term, "aws4_request") != 0)
        return mock_fail(v, 403, "IncompleteSignatureException",
                         "Credential must be AKID/YYYYMMDD/region/service/aws4_request, got '%s'",
                         cred);
    if (strcmp(akid, MOCK_AWS_ACCESS_KEY) != 0)
        return mock_fail(v, 403, "UnrecognizedClientException",
                         "The security token included in the request is invalid (unknown access "
                         "key id '%s')",
                         akid);
    if (strcmp(svc, service) != 0)
        return mock_fail(v, 403, "InvalidSignatureException",
                         "Credential should be scoped to the service '%s', not '%s'", service, svc);
    const char *amz = mock_header(call, "x-amz-date");
    if (!mock_sigv4_date(amz, date, v) || !mock_sigv4_signed(call, list, sorted, sizeof sorted, v))
        return false;

    struct mock_buf cr = {0}, sts = {0};
    bool ok = mock_sigv4_canonical(call, sorted, &cr, v);
    if (ok) {
        char cr_hash[65], scope[256], want[65];
        mock_sha256_hex(cr.p, cr.len, cr_hash);
        snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, region, svc);
        mock_buf_add(&sts, "AWS4-HMAC-SHA256\n", 17);
        mock_buf_add(&sts, amz, strlen(amz));
        mock_buf_add(&sts, "\n", 1);
        mock_buf_add(&sts, scope, strlen(scope));
        mock_buf_add(&sts, "\n", 1);
        mock_buf_add(&sts, cr_hash, 64);

        unsigned char k1[32], k2[32], s[32];
        char secret[128];
        snprintf(secret, sizeof secret, "AWS4%s", MOCK_AWS_SECRET_KEY);
        mock_hmac(secret, strlen(secret), date, k1);
        mock_hmac(k1, 32, region, k2);
        mock_hmac(k2, 32, svc, k1);
        mock_hmac(k1, 32, "aws4_request", k2);
        mock_hmac(k2, 32, sts.oom ? "" : sts.p, s);
        mock_hexify(s, 32, want);
        if (strcasecmp(want, sig) != 0)
            ok = mock_fail(v, 403, "InvalidSignatureException",
                           "The signature does not match the one the mock computed. Canonical "
                           "request:\n%s\nString to sign:\n%s",
                           cr.oom ? "?" : cr.p, sts.oom ? "?" : sts.p);
    }
    mock_buf_free(&cr);
    mock_buf_free(&sts);
    return ok;
}

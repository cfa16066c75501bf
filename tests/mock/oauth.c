/* Google's OAuth 2.0 token endpoint as the mock plays it: POST /token with a
 * JWT-bearer grant (RFC 7523). The mock verifies the assertion (RS256 with
 * the public key of --gcp-public-key, the iss / scope / aud / iat / exp
 * claims), issues "ya29.mock-<n>" access tokens for token_expires_in seconds
 * and later tells Vertex AI routes whether a bearer token is one of its live
 * ones. Also the /_mock/config settings: token_expires_in and the counters.
 *
 * DESIGN: issued tokens live in a ring of MOCK_TOKENS_KEEP (token, expiry)
 * under a mutex; the oldest are forgotten (then refused) once it wraps. The
 * key is loaded once at start and only read afterwards. RSA and SHA-256
 * come from OpenSSL. */
#include "mock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define MOCK_TOKENS_KEEP       4096
#define MOCK_TOKEN_TTL_DEFAULT 3600
#define MOCK_SCOPE             "https://www.googleapis.com/auth/cloud-platform"
#define MOCK_JWT_BEARER        "urn:ietf:params:oauth:grant-type:jwt-bearer"

struct mock_token {
    char token[40];
    uint64_t expires_ms; /* monotonic */
};

static EVP_PKEY *gcp_key;
static pthread_mutex_t oauth_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mock_token tokens[MOCK_TOKENS_KEEP];
static unsigned long tokens_issued, token_requests;
static long token_ttl = MOCK_TOKEN_TTL_DEFAULT;

bool mock_oauth_load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    gcp_key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!gcp_key) {
        rewind(f);
        X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
        if (cert)
            gcp_key = X509_get_pubkey(cert);
        X509_free(cert);
    }
    fclose(f);
    if (gcp_key && EVP_PKEY_base_id(gcp_key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(gcp_key);
        gcp_key = NULL;
    }
    return gcp_key != NULL;
}

void mock_oauth_free(void)
{
    EVP_PKEY_free(gcp_key);
    gcp_key = NULL;
}

/* base64url (unpadded or padded) → bytes; caller frees; NULL if malformed. */
static unsigned char *mock_b64url(const char *s, size_t n, size_t *out_len)
{
    unsigned char *out = malloc(n * 3 / 4 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (!out)
        return NULL;
    while (n && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '-'              ? 62
                : ch == '_'              ? 63
                                         : -1;
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static cJSON *mock_jwt_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = mock_b64url(s, n, &len);
    cJSON *j = raw ? cJSON_ParseWithLength((const char *)raw, len) : NULL;
    free(raw);
    return j;
}

static bool mock_rs256_ok(const char *input, size_t ilen, const char *sig64, size_t slen)
{
    size_t siglen;
    unsigned char *sig = mock_b64url(sig64, slen, &siglen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = sig && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, gcp_key) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input, ilen) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

/* scope is a space-separated list that must hold the cloud-platform scope. */
static bool mock_scope_ok(const char *scope)
{
    size_t n = strlen(MOCK_SCOPE);
    for (const char *p = scope; (p = strstr(p, MOCK_SCOPE)) != NULL; p += n)
        if ((p == scope || p[-1] == ' ') && (!p[n] || p[n] == ' '))
            return true;
    return false;
}

static bool mock_claims_ok(const cJSON *c, struct mock_verdict *v)
{
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(c, "iss");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(c, "scope");
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(c, "aud");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(c, "iat");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "exp");
    double now = (double)(mock_wall_ms() / 1000);
    if (!cJSON_IsString(iss) || !*iss->valuestring)
        return mock_fail(v, 400, "invalid_grant", "Invalid JWT: the iss claim is missing");
    if (!cJSON_IsString(scope) || !mock_scope_ok(scope->valuestring))
        return mock_fail(v, 400, "invalid_scope",
                         "Invalid OAuth scope: the scope claim must include " MOCK_SCOPE);
    size_t al = cJSON_IsString(aud) ? strlen(aud->valuestring) : 0;
    if (al < 6 || strcmp(aud->valuestring + al - 6, "/token"))
        return mock_fail(v, 400, "invalid_grant",
                         "Invalid JWT: Failed audience check. The aud claim must be this token "
                         "endpoint's URL (ending in /token)");
    if (!cJSON_IsNumber(iat) || !cJSON_IsNumber(exp) || exp->valuedouble <= iat->valuedouble ||
        exp->valuedouble - iat->valuedouble > 3600 || exp->valuedouble <= now ||
        iat->valuedouble > now + 300)
        return mock_fail(v, 400, "invalid_grant",
                         "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                         "reasonable timeframe. Check your iat and exp values in the JWT claim.");
    return true;
}

static bool mock_assertion_ok(const char *jwt, struct mock_verdict *v)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.'))
        return mock_fail(v, 400, "invalid_grant", "Invalid JWT: not three dot-separated parts");
    cJSON *head = mock_jwt_json(jwt, (size_t)(d1 - jwt));
    cJSON *claims = mock_jwt_json(d1 + 1, (size_t)(d2 - d1 - 1));
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(head, "alg");
    bool ok;
    if (!cJSON_IsObject(head) || !cJSON_IsObject(claims))
        ok = mock_fail(v, 400, "invalid_grant", "Invalid JWT: header or claims are not JSON");
    else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256"))
        ok = mock_fail(v, 400, "invalid_grant", "Invalid JWT: alg must be RS256");
    else if (!mock_rs256_ok(jwt, (size_t)(d2 - jwt), d2 + 1, strlen(d2 + 1)))
        ok = mock_fail(v, 400, "invalid_grant", "Invalid JWT Signature.");
    else
        ok = mock_claims_ok(claims, v);
    cJSON_Delete(head);
    cJSON_Delete(claims);
    return ok;
}

/* The decoded value of name in an x-www-form-urlencoded body; caller frees. */
static char *mock_form_value(const char *body, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t n = amp ? (size_t)(amp - body) - i : len - i;
        if (n > nl && memcmp(body + i, name, nl) == 0 && body[i + nl] == '=')
            return mock_url_decode(body + i + nl + 1, n - nl - 1, true);
        i += n + 1;
    }
    return NULL;
}

static char *mock_token_issue(long *ttl)
{
    char buf[160];
    pthread_mutex_lock(&oauth_mu);
    unsigned long n = ++tokens_issued;
    struct mock_token *t = &tokens[n % MOCK_TOKENS_KEEP];
    snprintf(t->token, sizeof t->token, "ya29.mock-%lu", n);
    *ttl = token_ttl;
    t->expires_ms = mock_mono_ms() + (uint64_t)token_ttl * 1000u;
    snprintf(buf, sizeof buf,
             "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}", t->token,
             token_ttl);
    pthread_mutex_unlock(&oauth_mu);
    return strdup(buf);
}

void mock_oauth_token(struct mock_call *call)
{
    const char *ctype =
        MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct mock_verdict v = {0};
    char *grant = NULL, *assertion = NULL;
    long ttl;

    if (!gcp_key) {
        mock_call_error(call, 500, "server_error",
                        "mock_upstream was started without --gcp-public-key, so it cannot verify "
                        "JWT assertions");
        return;
    }
    if (!ctype || strncmp(ctype, "application/x-www-form-urlencoded", 33) != 0)
        mock_fail(&v, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
    else if (!(grant = mock_form_value(call->body, call->len, "grant_type")) ||
             strcmp(grant, MOCK_JWT_BEARER))
        mock_fail(&v, 400, "unsupported_grant_type",
                  "Invalid grant_type: expected " MOCK_JWT_BEARER);
    else if (!(assertion = mock_form_value(call->body, call->len, "assertion")))
        mock_fail(&v, 400, "invalid_request", "Missing required parameter: assertion");
    else
        mock_assertion_ok(assertion, &v);
    if (v.status)
        mock_call_refuse(call, MOCK_FMT_OAUTH, &v);
    else
        mock_call_reply(call, MHD_HTTP_OK, mock_reply_json(mock_token_issue(&ttl)));
    free(grant);
    free(assertion);
}

void mock_oauth_count(void)
{
    pthread_mutex_lock(&oauth_mu);
    token_requests++;
    pthread_mutex_unlock(&oauth_mu);
}

bool mock_oauth_bearer_ok(struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || strncmp(auth + 7, "ya29.mock-", 10))
        return false;
    char *end;
    unsigned long n = strtoul(auth + 17, &end, 10);
    bool ok = false;
    pthread_mutex_lock(&oauth_mu);
    const struct mock_token *t = &tokens[n % MOCK_TOKENS_KEEP];
    if (!*end && n && n <= tokens_issued && strcmp(t->token, auth + 7) == 0)
        ok = mock_mono_ms() < t->expires_ms;
    pthread_mutex_unlock(&oauth_mu);
    return ok;
}

char *mock_oauth_config_dump(void)
{
    char buf[160];
    pthread_mutex_lock(&oauth_mu);
    snprintf(buf, sizeof buf,
             "{\"token_expires_in\":%ld,\"token_requests\":%lu,\"tokens_issued\":%lu}", token_ttl,
             token_requests, tokens_issued);
    pthread_mutex_unlock(&oauth_mu);
    return strdup(buf);
}

const char *mock_oauth_config_set(const cJSON *spec)
{
    static const char *const keys[] = {"token_expires_in", NULL};
    if (!cJSON_IsObject(spec))
        return "body must be a JSON object";
    if (mock_json_unknown(spec, keys, false))
        return "the only setting is token_expires_in";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "token_expires_in");
    if (t && !mock_json_int(t, 0, 86400))
        return "token_expires_in must be a whole number of seconds in 0..86400";
    pthread_mutex_lock(&oauth_mu);
    if (t)
        token_ttl = (long)t->valuedouble;
    pthread_mutex_unlock(&oauth_mu);
    return NULL;
}

void mock_oauth_config_reset(void)
{
    pthread_mutex_lock(&oauth_mu);
    token_ttl = MOCK_TOKEN_TTL_DEFAULT;
    token_requests = 0;
    pthread_mutex_unlock(&oauth_mu);
}

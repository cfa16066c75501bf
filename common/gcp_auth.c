/* Google service-account OAuth 2.0 (the JWT bearer grant, RFC 7523) without
 * the HTTP: the key file, the RS256-signed assertion, the token request
 * body, the token endpoint's answer, and the token cache.
 *
 * DESIGN: the cache is one mutex over a fixed buffer, an expiry time and a
 * "refresh in progress" flag. Every call holds the mutex only to copy or
 * compare a few fields; the fetch happens outside it, by the one thread that
 * won try_begin_refresh, while the others keep serving the old token until it
 * is GW_GCP_EXPIRY_MARGIN_S from expiry. The private key is read-only after
 * loading (OpenSSL allows concurrent signing with one EVP_PKEY). */
#include "gcp_auth.h"

#include "buf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SA_FILE_MAX (64 * 1024) /* a real key file is about 2.4 KB */

/* Formats into err and returns -1. Control characters (which may come from a
 * remote answer) become '?', so the message is safe in a log line. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (!err || errlen == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

/* ---- the service-account key ------------------------------------------- */

/* Never prompt for a passphrase: a key file's key is not encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* *out = a copy of the string member name, NULL when absent or empty.
 * Returns -1 with err set when the member is not a string or memory runs out. */
static int take_str(const cJSON *o, const char *name, const char *label, char **out, char *err,
                    size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(err, errlen, "%s: %s is not a string", label, name);
    if (!*v->valuestring)
        return 0;
    if (!(*out = strdup(v->valuestring)))
        return fail(err, errlen, "%s: out of memory", label);
    return 0;
}

static int load_key(const char *pem, const char *label, EVP_PKEY **out, char *err, size_t errlen)
{
    int rc = 0;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    if (!pkey)
        rc = fail(err, errlen, "%s: private_key is not a PEM RSA key", label);
    else if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA)
        rc = fail(err, errlen, "%s: private_key is not an RSA key (RS256 needs one)", label);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        ERR_clear_error(); /* leave no stale error for the thread's next TLS call */
    }
    BIO_free(bio);
    *out = pkey;
    return rc;
}

int gw_gcp_sa_load_json(const char *json, size_t len, const char *label, struct gw_gcp_sa *sa,
                        char *err, size_t errlen)
{
    int rc = -1;
    char *type = NULL;
    cJSON *root = NULL;
    cJSON *pk = NULL;
    if (!label)
        label = "service account";
    memset(sa, 0, sizeof *sa);

    root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "%s: not a JSON object", label);
        goto out;
    }
    if (take_str(root, "type", label, &type, err, errlen) != 0)
        goto out;
    if (type && strcmp(type, "service_account") != 0) {
        fail(err, errlen, "%s: type is \"%s\", expected \"service_account\"", label, type);
        goto out;
    }
    if (take_str(root, "client_email", label, &sa->client_email, err, errlen) != 0 ||
        take_str(root, "private_key_id", label, &sa->private_key_id, err, errlen) != 0 ||
        take_str(root, "token_uri", label, &sa->token_uri, err, errlen) != 0 ||
        take_str(root, "project_id", label, &sa->project_id, err, errlen) != 0)
        goto out;
    if (!sa->client_email) {
        fail(err, errlen, "%s: missing client_email", label);
        goto out;
    }
    pk = cJSON_GetObjectItemCaseSensitive(root, "private_key");
    if (!pk || cJSON_IsNull(pk) || (cJSON_IsString(pk) && !*pk->valuestring)) {
        fail(err, errlen, "%s: missing private_key", label);
        goto out;
    }
    if (!cJSON_IsString(pk)) {
        fail(err, errlen, "%s: private_key is not a string", label);
        goto out;
    }
    if (load_key(pk->valuestring, label, &sa->pkey, err, errlen) != 0)
        goto out;
    if (!sa->token_uri && !(sa->token_uri = strdup(GW_GCP_DEFAULT_TOKEN_URI))) {
        fail(err, errlen, "%s: out of memory", label);
        goto out;
    }
    rc = 0;
out:
    if (cJSON_IsString(pk))
        OPENSSL_cleanse(pk->valuestring, strlen(pk->valuestring));
    cJSON_Delete(root);
    free(type);
    if (rc != 0)
        gw_gcp_sa_free(sa);
    return rc;
}

int gw_gcp_sa_load_file(const char *path, struct gw_gcp_sa *sa, char *err, size_t errlen)
{
    int rc = -1;
    char label[512];
    char *buf = NULL;
    size_t len = 0;
    snprintf(label, sizeof label, "service account file %s", path);
    memset(sa, 0, sizeof *sa);

    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "%s: %s", label, strerror(errno));
    if (!(buf = malloc(SA_FILE_MAX + 1))) {
        fail(err, errlen, "%s: out of memory", label);
        goto out;
    }
    len = fread(buf, 1, SA_FILE_MAX + 1, f);
    if (ferror(f)) {
        fail(err, errlen, "%s: read error", label);
        goto out;
    }
    if (len > SA_FILE_MAX) {
        fail(err, errlen, "%s: larger than %d bytes, not a key file", label, SA_FILE_MAX);
        goto out;
    }
    if (len == 0) {
        fail(err, errlen, "%s: empty", label);
        goto out;
    }
    rc = gw_gcp_sa_load_json(buf, len, label, sa, err, errlen);
out:
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    fclose(f);
    return rc;
}

void gw_gcp_sa_free(struct gw_gcp_sa *sa)
{
    if (!sa)
        return;
    free(sa->client_email);
    free(sa->private_key_id);
    free(sa->token_uri);
    free(sa->project_id);
    EVP_PKEY_free(sa->pkey);
    memset(sa, 0, sizeof *sa);
}

/* ---- the JWT assertion -------------------------------------------------- */

/* Appends base64url without padding (RFC 7515 section 2). */
static int b64url(struct gw_buf *b, const void *data, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    if (gw_buf_reserve(b, (n + 2) / 3 * 4) != 0)
        return -1;
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t v = (uint32_t)p[i] << 16;
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
        gw_buf_append(b, q, left > 2 ? 4 : left + 1); /* reserved above: cannot fail */
    }
    return 0;
}

/* Appends the base64url RS256 signature of data[0..len) to out. */
static int sign_rs256(struct gw_buf *out, EVP_PKEY *pkey, const char *data, size_t len)
{
    int rc = -1;
    size_t siglen = (size_t)EVP_PKEY_size(pkey);
    unsigned char *sig = malloc(siglen);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (sig && md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)data, len) == 1)
        rc = b64url(out, sig, siglen);
    else
        ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(sig);
    return rc;
}

char *gw_gcp_jwt(const struct gw_gcp_sa *sa, long long now, char *err, size_t errlen)
{
    struct gw_buf hdr = {0}, claims = {0}, sig = {0}, jwt = {0};
    char *out = NULL;
    int bad = 0;
    if (!sa || !sa->pkey || !sa->client_email || !sa->token_uri) {
        fail(err, errlen, "JWT: service account not loaded");
        return NULL;
    }
    bad |= gw_buf_puts(&hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
    if (sa->private_key_id) {
        bad |= gw_buf_puts(&hdr, ",\"kid\":");
        bad |= gw_buf_json_str(&hdr, sa->private_key_id);
    }
    bad |= gw_buf_puts(&hdr, "}");

    bad |= gw_buf_puts(&claims, "{\"iss\":");
    bad |= gw_buf_json_str(&claims, sa->client_email);
    bad |= gw_buf_puts(&claims, ",\"scope\":\"" GW_GCP_SCOPE "\",\"aud\":");
    bad |= gw_buf_json_str(&claims, sa->token_uri);
    bad |= gw_buf_printf(&claims, ",\"iat\":%lld,\"exp\":%lld}", now, now + GW_GCP_JWT_LIFETIME_S);

    /* the signing input is base64url(header) "." base64url(claims) */
    bad |= b64url(&jwt, hdr.data, hdr.len);
    bad |= gw_buf_puts(&jwt, ".");
    bad |= b64url(&jwt, claims.data, claims.len);
    if (bad) {
        fail(err, errlen, "JWT: out of memory");
        goto done;
    }
    if (sign_rs256(&sig, sa->pkey, jwt.data, jwt.len) != 0) {
        fail(err, errlen, "JWT: signing with the service account's key failed");
        goto done;
    }
    if (gw_buf_puts(&jwt, ".") != 0 || gw_buf_append(&jwt, sig.data, sig.len) != 0) {
        fail(err, errlen, "JWT: out of memory");
        goto done;
    }
    out = jwt.data; /* ownership moves to the caller */
    jwt.data = NULL;
done:
    gw_buf_free(&hdr);
    gw_buf_free(&claims);
    gw_buf_free(&sig);
    gw_buf_free(&jwt);
    return out;
}

char *gw_gcp_token_request_body(const struct gw_gcp_sa *sa, long long now, char *err, size_t errlen)
{
    static const char prefix[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                                 "&assertion=";
    char *jwt = gw_gcp_jwt(sa, now, err, errlen);
    if (!jwt)
        return NULL;
    /* a JWT is base64url and dots, which a form body carries unescaped */
    size_t n = strlen(jwt);
    char *body = malloc(sizeof prefix + n);
    if (body) {
        memcpy(body, prefix, sizeof prefix - 1);
        memcpy(body + sizeof prefix - 1, jwt, n + 1);
    } else {
        fail(err, errlen, "token request: out of memory");
    }
    free(jwt);
    return body;
}

/* ---- the token endpoint's answer ---------------------------------------- */

/* Printable ASCII without spaces: what can follow "Authorization: Bearer ". */
static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

int gw_gcp_token_parse(const char *body, size_t len, char **token, long long *expires_at,
                       long long now, char *err, size_t errlen)
{
    int rc = -1;
    *token = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "token endpoint: answer is not a JSON object");
        goto out;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e && !cJSON_IsNull(e)) {
        const char *ed =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "error_description"));
        const char *es = cJSON_IsString(e) ? e->valuestring : "error";
        if (ed && *ed)
            fail(err, errlen, "token endpoint: %s: %s", es, ed);
        else
            fail(err, errlen, "token endpoint: %s", es);
        goto out;
    }
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "access_token"));
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(root, "token_type");
    if (!at || !*at) {
        fail(err, errlen, "token endpoint: answer has no access_token");
        goto out;
    }
    if (strlen(at) >= GW_GCP_TOKEN_MAX || !header_safe(at)) {
        fail(err, errlen,
             "token endpoint: access_token is too long or has characters a header "
             "cannot carry");
        goto out;
    }
    if (tt && !(cJSON_IsString(tt) && strcasecmp(tt->valuestring, "Bearer") == 0)) {
        fail(err, errlen, "token endpoint: token_type is not Bearer");
        goto out;
    }
    if (!cJSON_IsNumber(ei)) {
        fail(err, errlen, "token endpoint: answer has no numeric expires_in");
        goto out;
    }
    /* the negated test also rejects NaN; the bound keeps now + N from overflowing */
    if (!(ei->valuedouble >= 1 && ei->valuedouble <= 1e9)) {
        fail(err, errlen, "token endpoint: expires_in %g is not a positive number of seconds",
             ei->valuedouble);
        goto out;
    }
    if (!(*token = strdup(at))) {
        fail(err, errlen, "token endpoint: out of memory");
        goto out;
    }
    *expires_at = now + (long long)ei->valuedouble;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- the token cache ---------------------------------------------------- */

int gw_gcp_token_cache_init(struct gw_gcp_token_cache *c)
{
    memset(c, 0, sizeof *c);
    return pthread_mutex_init(&c->mu, NULL) == 0 ? 0 : -1;
}

void gw_gcp_token_cache_free(struct gw_gcp_token_cache *c)
{
    OPENSSL_cleanse(c->token, sizeof c->token);
    pthread_mutex_destroy(&c->mu);
}

int gw_gcp_token_cache_get(struct gw_gcp_token_cache *c, long long now, char *buf, size_t buflen)
{
    int rc = -1;
    pthread_mutex_lock(&c->mu);
    size_t n = strlen(c->token);
    if (n > 0 && n < buflen && now < c->expires_at - GW_GCP_EXPIRY_MARGIN_S) {
        memcpy(buf, c->token, n + 1);
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int gw_gcp_token_cache_set(struct gw_gcp_token_cache *c, const char *token, long long expires_at)
{
    size_t n = token ? strlen(token) : 0;
    if (n == 0 || n >= sizeof c->token)
        return -1;
    pthread_mutex_lock(&c->mu);
    memcpy(c->token, token, n + 1);
    c->expires_at = expires_at;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int gw_gcp_token_cache_needs_refresh(struct gw_gcp_token_cache *c, long long now)
{
    pthread_mutex_lock(&c->mu);
    int r = c->token[0] == '\0' || c->expires_at - now < GW_GCP_REFRESH_BEFORE_S;
    pthread_mutex_unlock(&c->mu);
    return r;
}

int gw_gcp_token_cache_try_begin_refresh(struct gw_gcp_token_cache *c)
{
    pthread_mutex_lock(&c->mu);
    int won = !c->refreshing;
    c->refreshing = 1;
    pthread_mutex_unlock(&c->mu);
    return won;
}

void gw_gcp_token_cache_end_refresh(struct gw_gcp_token_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->refreshing = 0;
    pthread_mutex_unlock(&c->mu);
}

/* AWS Signature Version 4 signing (header form) with OpenSSL's HMAC-SHA256
 * and SHA-256. The four steps, as AWS documents them:
 *
 *   canonical request = method \n canonical URI \n canonical query \n
 *                       canonical headers \n signed headers \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n amz_date \n scope \n
 *                       hex(sha256(canonical request))
 *   signing key       = HMAC chain "AWS4"+secret > date > region > service >
 *                       "aws4_request"
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * The canonical URI encodes the wire path once more (a "%3A" on the wire is
 * "%253A" here), as every service but S3 expects; the query is decoded and
 * re-encoded once, then sorted. */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void gw_sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, n, md);
    to_hex(md, sizeof md, out);
}

/* HMAC-SHA256 of msg under key into out (which may be key itself). */
static int hmac(const void *key, size_t key_len, const char *msg, size_t msg_len,
                unsigned char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, md, &len) ||
        len != 32)
        return -1;
    memcpy(out, md, 32);
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

int gw_sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                         const char *service, unsigned char key[32])
{
    struct gw_buf k = {0};
    int rc = -1;
    if (gw_buf_printf(&k, "AWS4%s", secret_access_key) != 0)
        goto out;
    if (hmac(k.data, k.len, date, strlen(date), key) != 0 ||
        hmac(key, 32, region, strlen(region), key) != 0 ||
        hmac(key, 32, service, strlen(service), key) != 0 ||
        hmac(key, 32, "aws4_request", 12, key) != 0)
        goto out;
    rc = 0;
out:
    if (k.data)
        OPENSSL_cleanse(k.data, k.len);
    gw_buf_free(&k);
    return rc;
}

void gw_sigv4_amz_date(time_t t, char out[GW_SIGV4_DATE_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, GW_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Appends s[0..n) percent-encoded (uppercase hex); '/' kept if keep_slash. */
static int uri_encode(struct gw_buf *b, const char *s, size_t n, int keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc = unreserved(c) || (keep_slash && c == '/') ? gw_buf_append(b, s + i, 1)
                                                           : gw_buf_printf(b, "%%%02X", c);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends s[0..n) decoded ("%XX" only; anything else kept) then re-encoded. */
static int query_encode(struct gw_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (uri_encode(b, &c, 1, 0) != 0)
            return -1;
    }
    return 0;
}

struct param {
    const char *name, *value; /* encoded */
};

static int cmp_param(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Each parameter's encoded name and value go NUL-terminated into scratch;
 * once it stops growing, they are pointed at, sorted by name then value, and
 * joined as name=value&... */
static int canonical_query(struct gw_buf *b, const char *q)
{
    struct gw_buf scratch = {0};
    struct param *param = NULL;
    size_t n = 0;
    int rc = -1;
    for (const char *p = q ? q : ""; *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t name_len = eq ? (size_t)(eq - p) : len;
            if (query_encode(&scratch, p, name_len) != 0 || gw_buf_append(&scratch, "", 1) != 0 ||
                (eq && query_encode(&scratch, eq + 1, len - name_len - 1) != 0) ||
                gw_buf_append(&scratch, "", 1) != 0)
                goto out;
            n++;
        }
        p += len + (end ? 1 : 0);
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    if (!(param = calloc(n, sizeof *param)))
        goto out;
    for (size_t i = 0, at = 0; i < n; i++) {
        param[i].name = scratch.data + at;
        at += strlen(param[i].name) + 1;
        param[i].value = scratch.data + at;
        at += strlen(param[i].value) + 1;
    }
    qsort(param, n, sizeof *param, cmp_param);
    for (size_t i = 0; i < n; i++)
        if (gw_buf_printf(b, "%s%s=%s", i ? "&" : "", param[i].name, param[i].value) != 0)
            goto out;
    rc = 0;
out:
    free(param);
    gw_buf_free(&scratch);
    return rc;
}

struct hdr {
    char *name; /* lowercase copy */
    const char *value;
    size_t index; /* keeps repeated names in their given order */
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Appends v trimmed, with each run of spaces or tabs reduced to one space. */
static int header_value(struct gw_buf *b, const char *v)
{
    int space = 0;
    for (; *v == ' ' || *v == '\t'; v++)
        ;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if ((space && gw_buf_append(b, " ", 1) != 0) || gw_buf_append(b, v, 1) != 0)
            return -1;
        space = 0;
    }
    return 0;
}

/* Appends the canonical headers block (each "name:value\n") to b and the
 * signed headers list to sh. */
static int canonical_headers(struct gw_buf *b, struct gw_buf *sh, const struct gw_sigv4_header *h,
                             size_t nh)
{
    struct hdr *s = calloc(nh ? nh : 1, sizeof *s);
    int rc = -1;
    if (!s)
        return -1;
    for (size_t i = 0; i < nh; i++) {
        if (!h[i].name || !h[i].value || !(s[i].name = strdup(h[i].name)))
            goto out;
        for (char *c = s[i].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        s[i].value = h[i].value;
        s[i].index = i;
    }
    qsort(s, nh, sizeof *s, cmp_hdr);
    for (size_t i = 0; i < nh; i++) {
        int repeat = i > 0 && strcmp(s[i].name, s[i - 1].name) == 0;
        if (repeat) {
            /* replace the previous line's '\n' with ',' and go on */
            b->len--;
            if (gw_buf_append(b, ",", 1) != 0)
                goto out;
        } else if ((i && gw_buf_append(sh, ";", 1) != 0) || gw_buf_puts(sh, s[i].name) != 0 ||
                   gw_buf_printf(b, "%s:", s[i].name) != 0) {
            goto out;
        }
        if (header_value(b, s[i].value) != 0 || gw_buf_append(b, "\n", 1) != 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nh; i++)
        free(s[i].name);
    free(s);
    return rc;
}

static int valid_date(const char *d)
{
    if (!d || strlen(d) != GW_SIGV4_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

int gw_sigv4_compute(const struct gw_sigv4_input *in, const char *secret_access_key,
                     struct gw_sigv4_parts *out)
{
    struct gw_buf *cr = &out->canonical_request, *sts = &out->string_to_sign;
    unsigned char key[32], sig[32];
    char hash[65];
    int rc = -1;
    gw_buf_reset(cr);
    gw_buf_reset(sts);
    gw_buf_reset(&out->signed_headers);
    out->signature[0] = '\0';
    if (!in->method || !in->path || !in->payload_hash || !in->region || !in->service ||
        !secret_access_key || !valid_date(in->amz_date))
        return -1;
    if (gw_buf_printf(cr, "%s\n", in->method) != 0 ||
        uri_encode(cr, *in->path ? in->path : "/", *in->path ? strlen(in->path) : 1, 1) != 0 ||
        gw_buf_append(cr, "\n", 1) != 0 || canonical_query(cr, in->query) != 0 ||
        gw_buf_append(cr, "\n", 1) != 0 ||
        canonical_headers(cr, &out->signed_headers, in->headers, in->nheaders) != 0 ||
        gw_buf_printf(cr, "\n%s\n%s", out->signed_headers.data ? out->signed_headers.data : "",
                      in->payload_hash) != 0)
        return -1;
    gw_sigv4_sha256_hex(cr->data, cr->len, hash);
    if (gw_buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", in->amz_date,
                      in->amz_date, in->region, in->service, hash) != 0)
        return -1;
    char date[9];
    memcpy(date, in->amz_date, 8);
    date[8] = '\0';
    if (gw_sigv4_signing_key(secret_access_key, date, in->region, in->service, key) == 0 &&
        hmac(key, sizeof key, sts->data, sts->len, sig) == 0) {
        to_hex(sig, sizeof sig, out->signature);
        rc = 0;
    }
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

void gw_sigv4_parts_free(struct gw_sigv4_parts *p)
{
    gw_buf_free(&p->canonical_request);
    gw_buf_free(&p->string_to_sign);
    gw_buf_free(&p->signed_headers);
}

/* Values that end up in a header line: no control characters (no CR/LF
 * injection), not empty. */
static int header_safe(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Ends the line being written in out->text: lines are NUL-separated, and
 * line[] is set once the text stops growing. */
static int end_line(struct gw_sigv4_signed *out)
{
    if (gw_buf_append(&out->text, "", 1) != 0)
        return -1;
    out->n++;
    return 0;
}

int gw_sigv4_sign(const struct gw_sigv4_creds *c, const struct gw_sigv4_request *r,
                  struct gw_sigv4_signed *out)
{
    struct gw_sigv4_parts parts = {0};
    struct gw_sigv4_header h[5];
    size_t nh = 0;
    char body_hash[65];
    int token = c->session_token && *c->session_token;
    int rc = -1;

    gw_buf_reset(&out->text);
    memset(out->line, 0, sizeof out->line);
    out->n = 0;
    out->signature[0] = '\0';
    if (!header_safe(c->access_key_id) || !c->secret_access_key || !header_safe(r->host) ||
        !header_safe(r->region) || !header_safe(r->service) || !valid_date(r->amz_date) ||
        (r->content_type && !header_safe(r->content_type)) ||
        (token && !header_safe(c->session_token)) || (!r->body && r->body_len))
        return -1;
    gw_sigv4_sha256_hex(r->body ? r->body : "", r->body_len, body_hash);
    h[nh++] = (struct gw_sigv4_header){"host", r->host};
    h[nh++] = (struct gw_sigv4_header){"x-amz-date", r->amz_date};
    h[nh++] = (struct gw_sigv4_header){"x-amz-content-sha256", body_hash};
    if (r->content_type)
        h[nh++] = (struct gw_sigv4_header){"content-type", r->content_type};
    if (token)
        h[nh++] = (struct gw_sigv4_header){"x-amz-security-token", c->session_token};
    struct gw_sigv4_input in = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .headers = h,
        .nheaders = nh,
        .payload_hash = body_hash,
        .amz_date = r->amz_date,
        .region = r->region,
        .service = r->service,
    };
    if (gw_sigv4_compute(&in, c->secret_access_key, &parts) != 0)
        goto out;
    if (gw_buf_printf(&out->text,
                      "Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
                      "SignedHeaders=%s, Signature=%s",
                      c->access_key_id, r->amz_date, r->region, r->service,
                      parts.signed_headers.data, parts.signature) != 0 ||
        end_line(out) != 0 || gw_buf_printf(&out->text, "X-Amz-Date: %s", r->amz_date) != 0 ||
        end_line(out) != 0 ||
        gw_buf_printf(&out->text, "X-Amz-Content-Sha256: %s", body_hash) != 0 ||
        end_line(out) != 0 ||
        (token && (gw_buf_printf(&out->text, "X-Amz-Security-Token: %s", c->session_token) != 0 ||
                   end_line(out) != 0)))
        goto out;
    for (size_t i = 0, at = 0; i < out->n; i++, at += strlen(out->text.data + at) + 1)
        out->line[i] = out->text.data + at;
    memcpy(out->signature, parts.signature, sizeof out->signature);
    rc = 0;
out:
    if (rc != 0) {
        gw_buf_reset(&out->text);
        out->n = 0;
    }
    gw_sigv4_parts_free(&parts);
    return rc;
}

void gw_sigv4_signed_free(struct gw_sigv4_signed *s)
{
    gw_buf_free(&s->text);
    memset(s->line, 0, sizeof s->line);
    s->n = 0;
}

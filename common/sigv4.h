/* AWS Signature Version 4 (header form, AWS4-HMAC-SHA256): the signer for
 * requests to AWS services such as Bedrock, and the canonical request and
 * string to sign behind it, exposed so tests can check AWS's vectors. */
#ifndef GW_SIGV4_H
#define GW_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define GW_SIGV4_DATE_LEN  16 /* "YYYYMMDDTHHMMSSZ" */
#define GW_SIGV4_MAX_LINES 4

struct gw_sigv4_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "": none */
};

/* One request as it will be sent. */
struct gw_sigv4_request {
    const char *method;       /* "POST" */
    const char *path;         /* exactly as on the wire, already percent-encoded */
    const char *query;        /* without '?'; NULL or "" when there is none */
    const char *host;         /* the Host header's value (with ":port" if sent so) */
    const char *content_type; /* NULL: not sent, not signed */
    const void *body;
    size_t body_len;
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (gw_sigv4_amz_date) */
    const char *region;   /* "us-east-1" */
    const char *service;  /* "bedrock" */
};

/* What gw_sigv4_sign produces: the header lines to add to the request, each
 * "Name: value" without a line ending, in line[0..n) (NULL after the last):
 * Authorization, X-Amz-Date, X-Amz-Content-Sha256 and, with a session
 * token, X-Amz-Security-Token. The request must also carry Host and (when
 * given) Content-Type with exactly the values that were signed. */
struct gw_sigv4_signed {
    struct gw_buf text; /* owned: the lines, NUL-separated */
    const char *line[GW_SIGV4_MAX_LINES + 1];
    size_t n;
    char signature[65]; /* lowercase hex */
};

/* Signs r. The signed headers are host, x-amz-date, x-amz-content-sha256,
 * content-type (if given) and x-amz-security-token (if given). Returns 0, or
 * -1 if a field is missing, amz_date is malformed, a value that goes into a
 * header holds a control character, or memory runs out. out is reset first;
 * free it with gw_sigv4_signed_free (also after a failure). */
int gw_sigv4_sign(const struct gw_sigv4_creds *c, const struct gw_sigv4_request *r,
                  struct gw_sigv4_signed *out);
void gw_sigv4_signed_free(struct gw_sigv4_signed *s);

/* The general form under gw_sigv4_sign: signs exactly the headers given. */
struct gw_sigv4_header {
    const char *name; /* any case */
    const char *value;
};

struct gw_sigv4_input {
    const char *method;
    const char *path;                      /* as on the wire; each byte outside A-Za-z0-9-._~/ is
                                              percent-encoded again (no dot-segment removal, as
                                              for every service but S3) */
    const char *query;                     /* as on the wire: decoded, re-encoded, sorted */
    const struct gw_sigv4_header *headers; /* host and x-amz-date included; a
                                              repeated name joins its values with ',' */
    size_t nheaders;
    const char *payload_hash; /* lowercase hex SHA-256 of the body */
    const char *amz_date, *region, *service;
};

struct gw_sigv4_parts {
    struct gw_buf canonical_request; /* owned */
    struct gw_buf string_to_sign;    /* owned */
    struct gw_buf signed_headers;    /* owned: "host;x-amz-date" */
    char signature[65];
};

/* Fills out (its buffers reset first). Returns 0, or -1 on a missing field,
 * a malformed amz_date or when memory runs out. Free with
 * gw_sigv4_parts_free. */
int gw_sigv4_compute(const struct gw_sigv4_input *in, const char *secret_access_key,
                     struct gw_sigv4_parts *out);
void gw_sigv4_parts_free(struct gw_sigv4_parts *p);

/* kSigning: the HMAC chain "AWS4"+secret, date ("YYYYMMDD"), region, service,
 * "aws4_request". Returns 0, or -1 if HMAC fails. */
int gw_sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                         const char *service, unsigned char key[32]);

/* Writes t (UTC) as "YYYYMMDDTHHMMSSZ" into out; pass time(NULL) for now. */
void gw_sigv4_amz_date(time_t t, char out[GW_SIGV4_DATE_LEN + 1]);

/* Lowercase hex SHA-256 of p[0..n) into out (65 bytes with the NUL). */
void gw_sigv4_sha256_hex(const void *p, size_t n, char out[65]);

#endif

/* Google OAuth 2.0 for service accounts, the pure parts the Vertex AI adapter
 * needs: loading a service-account key file, the RS256-signed JWT assertion
 * and the token request body built from it, parsing the token endpoint's
 * answer, and a thread-safe cache of the current access token. The HTTP
 * request itself belongs to the caller.
 *
 * Times are seconds since the epoch (wall clock): the JWT's iat/exp must be
 * wall-clock times, and the cache compares whatever clock the caller passes
 * as long as it passes the same one to set, get and needs_refresh. */
#ifndef GW_GCP_AUTH_H
#define GW_GCP_AUTH_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>

#define GW_GCP_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GW_GCP_SCOPE             "https://www.googleapis.com/auth/cloud-platform"
#define GW_GCP_GRANT_TYPE        "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define GW_GCP_JWT_LIFETIME_S    3600 /* Google's maximum for exp - iat */
#define GW_GCP_TOKEN_MAX         4096 /* longest access token accepted, NUL included */
#define GW_GCP_REFRESH_BEFORE_S  300  /* refresh when fewer seconds than this remain */
#define GW_GCP_EXPIRY_MARGIN_S   30   /* get() refuses a token with fewer seconds left */

/* A loaded service-account key. Every member is owned by the struct and
 * released by gw_gcp_sa_free; after loading it is only read, so one
 * struct may be used by several threads at once. */
struct gw_gcp_sa {
    char *client_email;   /* the JWT's iss */
    char *private_key_id; /* the JWT header's kid; NULL when the file has none */
    char *token_uri;      /* the JWT's aud and where to POST; the default when absent */
    char *project_id;     /* NULL when the file has none */
    EVP_PKEY *pkey;       /* the RSA private key */
};

/* Both return 0, or -1 with a message in err naming the source ("service
 * account file PATH: missing client_email"). On failure sa is left empty
 * (gw_gcp_sa_free on it is harmless). label names a JSON string in messages
 * (NULL: "service account"). The JSON copy of the private key is wiped. */
int gw_gcp_sa_load_file(const char *path, struct gw_gcp_sa *sa, char *err, size_t errlen);
int gw_gcp_sa_load_json(const char *json, size_t len, const char *label, struct gw_gcp_sa *sa,
                        char *err, size_t errlen);
/* Releases everything sa owns and zeroes it. NULL or an empty struct is fine. */
void gw_gcp_sa_free(struct gw_gcp_sa *sa);

/* The signed JWT assertion for an access-token request issued at now:
 * base64url(header).base64url(claims).base64url(RS256 signature), with
 * header {"alg":"RS256","typ":"JWT","kid":private_key_id} and claims
 * {"iss","scope","aud","iat","exp"} (exp = now + GW_GCP_JWT_LIFETIME_S).
 * Returns a malloc'd string the caller frees, or NULL with err set. */
char *gw_gcp_jwt(const struct gw_gcp_sa *sa, long long now, char *err, size_t errlen);
/* The application/x-www-form-urlencoded body to POST to sa->token_uri:
 * "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=JWT".
 * Returns a malloc'd string the caller frees, or NULL with err set. */
char *gw_gcp_token_request_body(const struct gw_gcp_sa *sa, long long now, char *err,
                                size_t errlen);

/* Parses the token endpoint's answer (whatever the HTTP status).
 * {"access_token":T,"expires_in":N,"token_type":"Bearer"} gives 0, *token =
 * malloc'd T (the caller frees it) and *expires_at = now + N. An error answer
 * {"error":E,"error_description":D} gives -1 and "token endpoint: E: D" in
 * err; so does anything else unusable (not JSON, no access_token, expires_in
 * missing or not positive, a token that could not go in a header). */
int gw_gcp_token_parse(const char *body, size_t len, char **token, long long *expires_at,
                       long long now, char *err, size_t errlen);

/* The current access token of one service account, shared by the threads
 * that call the provider. Typical use:
 *
 *     if (gw_gcp_token_cache_needs_refresh(c, now) && gw_gcp_token_cache_try_begin_refresh(c)) {
 *         ... fetch; on success gw_gcp_token_cache_set(c, token, expires_at) ...
 *         gw_gcp_token_cache_end_refresh(c);
 *     }
 *     if (gw_gcp_token_cache_get(c, now, buf, sizeof buf) != 0)
 *         ... no usable token (yet) ...
 *
 * so a token is refreshed GW_GCP_REFRESH_BEFORE_S before it expires, by one
 * thread, while the others keep using the old one. */
struct gw_gcp_token_cache {
    pthread_mutex_t mu;
    char token[GW_GCP_TOKEN_MAX]; /* "" when there is none */
    long long expires_at;
    int refreshing; /* a fetch is in progress */
};

/* 0, or -1 when the mutex cannot be created. */
int gw_gcp_token_cache_init(struct gw_gcp_token_cache *c);
/* Wipes the token and destroys the mutex. */
void gw_gcp_token_cache_free(struct gw_gcp_token_cache *c);
/* Copies the token into buf and returns 0 when there is one with at least
 * GW_GCP_EXPIRY_MARGIN_S seconds left at now and it fits in buflen; else -1. */
int gw_gcp_token_cache_get(struct gw_gcp_token_cache *c, long long now, char *buf, size_t buflen);
/* Replaces the token. -1 (cache unchanged) when token is NULL, empty or not
 * shorter than GW_GCP_TOKEN_MAX. */
int gw_gcp_token_cache_set(struct gw_gcp_token_cache *c, const char *token, long long expires_at);
/* 1 when there is no token or fewer than GW_GCP_REFRESH_BEFORE_S seconds remain. */
int gw_gcp_token_cache_needs_refresh(struct gw_gcp_token_cache *c, long long now);
/* 1 when the caller now owns the refresh (and must call end_refresh), 0 when
 * another thread already does. */
int gw_gcp_token_cache_try_begin_refresh(struct gw_gcp_token_cache *c);
void gw_gcp_token_cache_end_refresh(struct gw_gcp_token_cache *c);

#endif

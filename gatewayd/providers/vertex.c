/* Google Vertex AI as an upstream: Anthropic's Claude models through
 * rawPredict / streamRawPredict and Google's Gemini models through
 * generateContent / streamGenerateContent, on
 * {base_url}/v1/projects/P/locations/L/publishers/{anthropic|google}/models/M.
 * The wire formats are the anthropic and gemini adapters' (their request
 * translation and answer codecs are reused); what is Vertex's own is the
 * URL and the credential: an OAuth2 access token obtained from the
 * provider's service-account key (gcp_auth.h) and sent as a bearer token.
 *
 * A deployment model whose name starts with "claude" is Anthropic's, any
 * other Google's (Vertex's own naming: claude-sonnet-4@20250514,
 * gemini-2.0-flash).
 *
 * DESIGN: tokens are cached per service account (client e-mail and token
 * URI) for the life of the process, so a reload does not fetch again. A
 * request that finds no usable token, or the first one to find it within
 * five minutes of expiry, fetches one before its own call: the token request
 * runs as an ordinary transfer on the upstream worker, and its completion
 * submits the model call from there; the request's body was translated (and
 * refused if need be) on the MHD thread before. Requests arriving meanwhile
 * use the old token while it lasts; when several find none at all (a cold
 * start), each fetches, and the first answer serves everyone after. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "anthropic.h"
#include "errors.h"
#include "gcp_auth.h"
#include "gemini.h"
#include "log.h"
#include "provider.h"
#include "request.h"
#include "tokens.h"
#include "upstream.h"
#include "xlate.h"

#define TOKEN_ANSWER_MAX (64 * 1024)

/* The access token of one service account. Never freed: a handful at most. */
struct vertex_auth {
    char *client_email, *token_uri;
    struct gw_gcp_token_cache cache;
    struct vertex_auth *next;
};

static pthread_mutex_t auths_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vertex_auth *auths;

static struct vertex_auth *auth_for(const struct gw_gcp_sa *sa)
{
    pthread_mutex_lock(&auths_mu);
    struct vertex_auth *a = auths;
    while (a && (strcmp(a->client_email, sa->client_email) != 0 ||
                 strcmp(a->token_uri, sa->token_uri) != 0))
        a = a->next;
    if (!a && (a = calloc(1, sizeof *a))) {
        a->client_email = strdup(sa->client_email);
        a->token_uri = strdup(sa->token_uri);
        if (!a->client_email || !a->token_uri || gw_gcp_token_cache_init(&a->cache) != 0) {
            free(a->client_email);
            free(a->token_uri);
            free(a);
            a = NULL;
        } else {
            a->next = auths;
            auths = a;
        }
    }
    pthread_mutex_unlock(&auths_mu);
    return a;
}

/* One model call waiting for, or holding, its token. */
struct vertex_call {
    struct vertex_auth *auth;
    char *url;
    char *body; /* malloc'd until submitted */
    size_t body_len;
    const struct gw_xlate_codec *codec;
    int relay;
    int refreshing;       /* this call owns the cache's refresh */
    struct gw_buf answer; /* the token endpoint's answer */
    long status;
};

static void call_free(void *p)
{
    struct vertex_call *c = p;
    free(c->body);
    gw_buf_free(&c->answer);
}

static long long now_s(void)
{
    return gw_wall_ms() / 1000;
}

/* Hands the model call to the translated transfer with token. Returns its
 * result (RESPOND: an error is set on r). */
static enum gw_stage_rc submit_call(struct gw_request *r, struct vertex_call *c, const char *token)
{
    struct curl_slist *h = NULL;
    struct gw_buf auth = {0};
    gw_buf_printf(&auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, r->stream ? "Accept: text/event-stream" : "Accept: application/json");
    h = curl_slist_append(h, auth.data);
    sodium_memzero(auth.data, auth.len); /* curl has its own copy */
    gw_buf_free(&auth);
    char *body = c->body;
    c->body = NULL;
    return gw_xlate_submit(r, c->codec, NULL, c->relay, c->url, h, body, c->body_len);
}

/* ---- the token transfer (upstream thread) ------------------------------- */

static void token_headers(struct gw_request *r, long status, const char *ctype,
                          const char *retry_after)
{
    struct vertex_call *c = r->provider_state;
    c->status = status;
}

static size_t token_data(struct gw_request *r, const char *data, size_t len)
{
    struct vertex_call *c = r->provider_state;
    if (c->answer.len + len > TOKEN_ANSWER_MAX)
        return 0;
    return gw_buf_append(&c->answer, data, len) == 0 ? len : 0;
}

static void token_done(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    struct vertex_call *c = r->provider_state;
    char err[300] = "", token[GW_GCP_TOKEN_MAX];
    char *fresh = NULL;
    long long now = now_s(), expires_at = 0;
    if (res != GW_UP_OK)
        snprintf(err, sizeof err, "the token endpoint could not be reached: %s", detail);
    else if (gw_gcp_token_parse(c->answer.data, c->answer.len, &fresh, &expires_at, now, err,
                                sizeof err) == 0)
        gw_gcp_token_cache_set(&c->auth->cache, fresh, expires_at);
    if (fresh) {
        sodium_memzero(fresh, strlen(fresh));
        free(fresh);
    }
    if (c->refreshing)
        gw_gcp_token_cache_end_refresh(&c->auth->cache);

    pthread_mutex_lock(&r->mu);
    int gone = r->client_gone;
    pthread_mutex_unlock(&r->mu);
    if (gw_gcp_token_cache_get(&c->auth->cache, now, token, sizeof token) != 0) {
        gw_warn("%s: vertex provider %s: no access token: %s", r->id, r->provider->name,
                err[0] ? err : "none cached");
        gw_error_respond(r, 502, "upstream_error", "upstream_auth_failed", NULL,
                         "Could not obtain an access token for provider '%s': %s",
                         r->provider->name, err[0] ? err : "no token");
        gw_xlate_complete(r);
    } else if (gone) {
        gw_error_respond(r, 499, "upstream_error", "client_gone", NULL,
                         "The client left before the call was made.");
        gw_xlate_complete(r);
    } else {
        if (err[0]) /* a refresh failed but the old token is still good */
            gw_warn("vertex provider %s: token refresh failed, using the cached one: %s",
                    r->provider->name, err);
        if (submit_call(r, c, token) != GW_STAGE_ASYNC)
            gw_xlate_complete(r);
    }
    sodium_memzero(token, sizeof token);
}

static const struct gw_transfer_ops token_ops = {
    .on_headers = token_headers,
    .on_data = token_data,
    .on_done = token_done,
};

/* ---- request side (MHD thread) ------------------------------------------ */

static enum gw_stage_rc fetch_token_then_call(struct gw_request *r, struct vertex_call *c)
{
    const struct gw_gcp_sa *sa = r->provider->gcp_sa;
    char err[300];
    char *form = gw_gcp_token_request_body(sa, now_s(), err, sizeof err);
    if (!form) {
        if (c->refreshing)
            gw_gcp_token_cache_end_refresh(&c->auth->cache);
        gw_error_respond(r, 500, "server_error", "upstream_auth_failed", NULL,
                         "Could not sign the token request of provider '%s': %s", r->provider->name,
                         err);
        return GW_STAGE_RESPOND;
    }
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    h = curl_slist_append(h, "Accept: application/json");
    struct gw_upstream_spec spec = {
        .url = sa->token_uri,
        .headers = h,
        .body = form,
        .body_len = strlen(form),
        .timeouts = r->model->timeouts,
        .ops = &token_ops,
    };
    r->provider_state = c;
    if (gw_upstream_submit(r, &spec) != 0) {
        if (c->refreshing)
            gw_gcp_token_cache_end_refresh(&c->auth->cache);
        gw_error_respond(r, 503, "server_error", "shutting_down", NULL,
                         "The gateway is shutting down; retry on another instance.");
        return GW_STAGE_RESPOND;
    }
    return GW_STAGE_ASYNC;
}

int gw_vertex_is_claude(const char *model)
{
    return strncmp(model, "claude", 6) == 0;
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    const struct gw_provider_cfg *p = r->provider;
    const char *model = r->deployment->model;
    int claude = gw_vertex_is_claude(model);
    struct vertex_call *c = gw_arena_calloc(r->arena, sizeof *c);
    gw_arena_on_destroy(r->arena, call_free, c);
    c->auth = auth_for(p->gcp_sa);
    if (!c->auth) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    c->body = claude ? gw_anthropic_body(r, 1, &c->body_len) : gw_gemini_body(r, &c->body_len);
    if (!c->body)
        return GW_STAGE_RESPOND; /* refused: the error is set */
    c->codec = claude ? &gw_anthropic_codec : &gw_gemini_codec;
    c->relay = claude && gw_anthropic_relays(r);
    const char *verb = claude ? (r->stream ? "streamRawPredict" : "rawPredict")
                              : (r->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    struct gw_buf url = {0};
    gw_buf_printf(&url, "%s/v1/projects/%s/locations/%s/publishers/%s/models/%s:%s", p->base_url,
                  p->project, p->region, claude ? "anthropic" : "google", model, verb);
    c->url = gw_arena_strdup(r->arena, url.data ? url.data : "");
    gw_buf_free(&url);
    gw_tokens_input(r); /* counted here, on the pipeline's thread, for the answer */

    long long now = now_s();
    char token[GW_GCP_TOKEN_MAX];
    int have = gw_gcp_token_cache_get(&c->auth->cache, now, token, sizeof token) == 0;
    if (gw_gcp_token_cache_needs_refresh(&c->auth->cache, now) &&
        gw_gcp_token_cache_try_begin_refresh(&c->auth->cache)) {
        c->refreshing = 1;
        have = 0;
    }
    if (!have)
        return fetch_token_then_call(r, c);
    enum gw_stage_rc rc = submit_call(r, c, token);
    sodium_memzero(token, sizeof token);
    return rc;
}

const struct gw_provider_ops gw_provider_vertex = {
    .type = "vertex",
    .chat = chat,
};

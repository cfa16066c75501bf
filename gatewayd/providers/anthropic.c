/* The anthropic adapter: Anthropic's Messages API (POST {base_url}/v1/messages)
 * as an upstream, from both front doors.
 *
 * /v1/messages: relay. The caller's body goes up byte for byte with only
 * its model replaced (anthropic_relay.c) and the answer comes back unchanged,
 * streamed event by event as it arrives; the codec only reads usage.
 * /v1/chat/completions: translation. r->json becomes a Messages body
 * (anthropic_request.c for the messages, anthropic_params.c for the other
 * parameters; what cannot be expressed is a 400 naming the parameter) and
 * the answer is decoded (anthropic_answer.c) into OpenAI's chat.completion
 * or its chunk stream.
 *
 * Headers: x-api-key (the provider's key: the caller's gateway key never goes
 * upstream), anthropic-version (on a relay the caller's, if it sent one; the
 * provider's anthropic_version otherwise, and always for a translation, whose
 * body is written for it), anthropic-beta when the caller sent one, and the
 * JSON content type. Non-2xx answers, timeouts and broken streams are
 * xlate.c's. The provider cannot embed (embeddings is NULL: dispatch answers
 * 400). */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic-int.h"
#include "anthropic.h"
#include "errors.h"
#include "provider.h"
#include "request.h"

int gw_anthropic_relays(const struct gw_request *r)
{
    /* a rewritten request (PII scrubbed...) or an answer whose text must be
     * read (text filters) is translated both ways */
    return r->api == GW_API_MESSAGES && !r->json_rewritten && !r->text_filtered;
}

char *gw_anthropic_body(struct gw_request *r, int for_vertex, size_t *len)
{
    return gw_anthropic_relays(r) ? gw_anthropic_relay_body(r, for_vertex, len)
                                  : gw_anthropic_translate(r, for_vertex, len);
}

enum gw_stage_rc gw_anthropic_submit(struct gw_request *r, const char *url,
                                     struct curl_slist *headers, char *body, size_t len)
{
    return gw_xlate_submit(r, &gw_anthropic_codec, NULL, gw_anthropic_relays(r), url, headers, body,
                           len);
}

/* A header value fit to send on: printable ASCII, not empty, not huge. */
static int clean_value(const char *v)
{
    size_t n = 0;
    for (; v[n]; n++)
        if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e)
            return 0;
    return n > 0 && n <= 512;
}

/* Adds "name: value" to *h. Returns 0, or -1 out of memory. */
static int add_header(struct curl_slist **h, const char *name, const char *value)
{
    struct gw_buf line = {0};
    int rc = gw_buf_printf(&line, "%s: %s", name, value);
    struct curl_slist *n = rc == 0 ? curl_slist_append(*h, line.data) : NULL;
    gw_buf_free(&line);
    if (!n)
        return -1;
    *h = n;
    return 0;
}

/* The caller's header, checked; NULL if absent. -1 in *bad if unfit. */
static const char *caller_header(struct gw_request *r, const char *name, int *bad)
{
    /* captured by the dispatch stage: this may run on the upstream thread */
    const char *v = strcmp(name, "anthropic-version") == 0 ? r->anthropic_version
                    : strcmp(name, "anthropic-beta") == 0  ? r->anthropic_beta
                                                           : NULL;
    if (v && !clean_value(v)) {
        gw_error_respond(r, 400, "invalid_request_error", "invalid_header", name,
                         "The %s header must be printable ASCII (at most 512 bytes).", name);
        *bad = 1;
        return NULL;
    }
    return v;
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    const struct gw_provider_cfg *p = r->provider;
    int bad = 0;
    const char *version =
        gw_anthropic_relays(r) ? caller_header(r, "anthropic-version", &bad) : NULL;
    const char *beta = bad ? NULL : caller_header(r, "anthropic-beta", &bad);
    if (bad)
        return GW_STAGE_RESPOND;
    if (!version)
        version = p->anthropic_version ? p->anthropic_version : "2023-06-01";

    size_t len = 0;
    char *body = gw_anthropic_body(r, 0, &len);
    if (!body)
        return GW_STAGE_RESPOND;

    struct curl_slist *h = NULL;
    int rc = add_header(&h, "Content-Type", "application/json");
    rc |= add_header(&h, "anthropic-version", version);
    if (beta)
        rc |= add_header(&h, "anthropic-beta", beta);
    if (r->api_key) /* this attempt's key of the provider's pool (route.c) */
        rc |= add_header(&h, "x-api-key", r->api_key);
    struct gw_buf url = {0};
    rc |= gw_buf_printf(&url, "%s/v1/messages", p->base_url);
    if (rc != 0) {
        curl_slist_free_all(h);
        gw_buf_free(&url);
        free(body);
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    enum gw_stage_rc st = gw_anthropic_submit(r, url.data, h, body, len);
    gw_buf_free(&url);
    return st;
}

const struct gw_provider_ops gw_provider_anthropic = {
    .type = "anthropic",
    .chat = chat,
};

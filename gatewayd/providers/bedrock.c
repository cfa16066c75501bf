/* The Amazon Bedrock adapter: chat through Bedrock Runtime's Converse API
 * (ConverseStream for streams), for callers of both front doors. No caller
 * speaks Converse, so every request is translated (bedrock_request.c) and
 * every answer decoded (bedrock_answer.c); this file owns the call itself:
 *
 *   POST {base_url}/model/{model id, percent-encoded}/converse
 *   POST {base_url}/model/{model id, percent-encoded}/converse-stream
 *
 * signed with AWS Signature Version 4 (common/sigv4.h) for service
 * "bedrock" in the provider's region, with its aws_access_key_id,
 * aws_secret_access_key and, for temporary credentials, aws_session_token.
 * The caller's gateway key never goes upstream. The Host header is sent
 * explicitly with the value that was signed (host, and the port when the
 * base URL names a non-default one), so what curl sends and what AWS checks
 * cannot differ.
 *
 * Errors: Bedrock's non-2xx bodies are {"message": ...}; xlate passes the
 * status and that message on in the caller's format (a 403 for a bad
 * signature or key becomes a 502 upstream_auth_failed quoting Bedrock's
 * message: the credential at fault is the gateway's).
 *
 * Threads: chat() runs on the MHD thread; the codec on the upstream one. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bedrock.h"
#include "errors.h"
#include "provider.h"
#include "request.h"
#include "sigv4.h"

/* The model id as one path segment: everything but A-Za-z0-9-._~ encoded
 * (':' in "anthropic.claude-3-haiku-20240307-v1:0" becomes %3A, '/' in an
 * ARN %2F), as AWS's SDKs send it. */
static int encode_segment(struct gw_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~';
        if ((keep ? gw_buf_append(b, s, 1) : gw_buf_printf(b, "%%%02X", c)) != 0)
            return -1;
    }
    return 0;
}

/* From base_url: the Host header's value (with ":port" only when the URL
 * names a port other than its scheme's default, as curl would send it) and
 * the path prefix (without a trailing '/'). Returns 0 or -1. */
static int split_base(const char *base_url, struct gw_buf *host, struct gw_buf *prefix)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *port = NULL, *path = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
        goto out;
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* absent unless the URL names one */
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    int is_default = port && ((strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
                              (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0));
    if (gw_buf_puts(host, h) != 0 || (port && !is_default && gw_buf_printf(host, ":%s", port) != 0))
        goto out;
    size_t n = path ? strlen(path) : 0;
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n && gw_buf_append(prefix, path, n) != 0)
        goto out;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    const struct gw_provider_cfg *p = r->provider;
    size_t len = 0;
    char *body = gw_bedrock_body(r, &len);
    if (!body)
        return GW_STAGE_RESPOND;

    struct gw_buf host = {0}, path = {0}, url = {0};
    struct gw_sigv4_signed sig = {0};
    struct curl_slist *h = NULL;
    enum gw_stage_rc rc = GW_STAGE_RESPOND;
    const char *op = r->stream ? "/converse-stream" : "/converse";
    if (split_base(p->base_url, &host, &path) != 0) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL,
                         "Provider '%s': its base_url '%s' is not a URL.", p->name, p->base_url);
        goto out;
    }
    size_t prefix_len = path.len;
    if (gw_buf_puts(&path, "/model/") != 0 || encode_segment(&path, r->deployment->model) != 0 ||
        gw_buf_puts(&path, op) != 0 || gw_buf_puts(&url, p->base_url) != 0)
        goto oom;
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    /* base_url holds the prefix already: add what follows it */
    if (gw_buf_puts(&url, path.data + prefix_len) != 0)
        goto oom;

    char date[GW_SIGV4_DATE_LEN + 1];
    gw_sigv4_amz_date(time(NULL), date);
    struct gw_sigv4_creds creds = {
        .access_key_id = p->aws_access_key_id,
        .secret_access_key = p->aws_secret_access_key,
        .session_token = p->aws_session_token,
    };
    struct gw_sigv4_request req = {
        .method = "POST",
        .path = path.data,
        .host = host.data,
        .content_type = "application/json",
        .body = body,
        .body_len = len,
        .amz_date = date,
        .region = p->region,
        .service = "bedrock",
    };
    if (gw_sigv4_sign(&creds, &req, &sig) != 0) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL,
                         "Provider '%s': the request could not be signed; check its region and "
                         "AWS credentials (empty, or holding control characters?).",
                         p->name);
        goto out;
    }
    struct gw_buf line = {0};
    gw_buf_printf(&line, "Host: %s", host.data);
    h = curl_slist_append(h, line.data ? line.data : "");
    gw_buf_free(&line);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, r->stream ? "Accept: application/vnd.amazon.eventstream"
                                       : "Accept: application/json");
    for (size_t i = 0; i < sig.n; i++)
        h = curl_slist_append(h, sig.line[i]);
    if (!h)
        goto oom;
    rc =
        gw_xlate_submit(r, &gw_bedrock_codec, gw_bedrock_codec_state(r), 0, url.data, h, body, len);
    h = NULL;
    body = NULL; /* both owned by the transfer now */
    goto out;
oom:
    gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
out:
    curl_slist_free_all(h);
    free(body);
    gw_sigv4_signed_free(&sig);
    gw_buf_free(&host);
    gw_buf_free(&path);
    gw_buf_free(&url);
    return rc;
}

const struct gw_provider_ops gw_provider_bedrock = {
    .type = "bedrock",
    .chat = chat,
};

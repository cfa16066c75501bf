/* Stage auth: finds the virtual key wherever an official SDK puts it
 * (Authorization: Bearer, x-api-key, x-goog-api-key, api-key) and checks it
 * against the key snapshot. Cannot be disabled. */
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "keys.h"
#include "pipeline.h"
#include "request.h"

static const char *find_key(struct gw_request *r)
{
    const char *v = gw_request_header(r, "authorization");
    if (v) {
        if (strncasecmp(v, "Bearer ", 7) == 0) {
            v += 7;
            while (*v == ' ')
                v++;
            return v;
        }
        return NULL;
    }
    static const char *const others[] = {"x-api-key", "x-goog-api-key", "api-key"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        if ((v = gw_request_header(r, others[i])) != NULL)
            return v;
    return NULL;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const char *key = find_key(r);
    if (!key || !*key) {
        gw_error_respond(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "You didn't provide an API key. Pass it as 'Authorization: Bearer KEY' "
                         "or 'x-api-key: KEY'.");
        return GW_STAGE_RESPOND;
    }
    switch (gw_keys_authenticate(r, key, strlen(key))) {
    case GW_AUTH_OK:
        r->authed = 1;
        return GW_STAGE_CONTINUE;
    case GW_AUTH_REVOKED:
        gw_error_respond(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "This API key has been revoked.");
        return GW_STAGE_RESPOND;
    case GW_AUTH_EXPIRED:
        gw_error_respond(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "This API key has expired.");
        return GW_STAGE_RESPOND;
    default:
        gw_error_respond(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "Incorrect API key provided.");
        return GW_STAGE_RESPOND;
    }
}

const struct gw_stage gw_stage_auth = {
    .name = "auth",
    .apis = GW_API_CHAT | GW_API_MODELS | GW_API_MESSAGES | GW_API_COUNT_TOKENS |
            GW_API_EMBEDDINGS | GW_API_REQUESTS | GW_API_QUERY | GW_API_QUERY_CACHE,
    .run = run,
};

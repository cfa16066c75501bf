/* What the request-body fuzz targets share: CHECK (abort on a broken
 * invariant, so libFuzzer reports it), the set-up that installs the
 * embedded default config once, so gw_request_new() can make requests, a
 * request carrying the input as its body, and the check of an OpenAI-shaped
 * refusal. */
#ifndef GW_FUZZ_REQUEST_H
#define GW_FUZZ_REQUEST_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "request.h"
#include "runtime.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static inline void fuzz_install_default_config(const char *target)
{
    char err[512];
    gw_log_set_level(GW_LOG_ERROR);
    if (gw_crypto_init() != 0)
        abort();
    unsetenv("OPENAI_API_KEY");
    struct gw_config *cfg = gw_config_load(NULL, err, sizeof err);
    if (!cfg || gw_runtime_set_config(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", target, err);
        abort();
    }
}

/* A POST request to path whose body is data[0..size), as the HTTP intake
 * leaves it for the parse stages. */
static inline struct gw_request *fuzz_request(enum gw_api api, const char *path,
                                              const uint8_t *data, size_t size)
{
    struct gw_request *r = gw_request_new();
    CHECK(r != NULL);
    r->api = api;
    r->method = "POST";
    r->path = path;
    CHECK(gw_buf_append(&r->body, data, size) == 0);
    return r;
}

/* A refusal in OpenAI's shape: the status, a JSON body with a non-empty
 * error.message of type invalid_request_error, and the usage row's code. */
static inline void fuzz_check_openai_error(const struct gw_request *r, int status)
{
    CHECK(r->status == status);
    CHECK(r->content_type && strcmp(r->content_type, "application/json") == 0);
    CHECK(r->error != NULL);
    cJSON *j = cJSON_ParseWithLength(r->out.data, r->out.len);
    CHECK(j != NULL);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    CHECK(cJSON_IsObject(e));
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    CHECK(cJSON_IsString(msg) && *msg->valuestring);
    CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "invalid_request_error") == 0);
    cJSON_Delete(j);
}

#endif

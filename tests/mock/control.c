/* The mock's control API under /_mock/: arming and clearing the fault
 * (/_mock/faults), reading and clearing the request log (/_mock/requests),
 * the counters (/_mock/stats), the OAuth settings (/_mock/config) and the
 * fixed replies per model (/_mock/replies).
 * Replies are immediate; these requests are neither recorded nor subject to
 * faults. */
#include "mock.h"

#include <stdio.h>
#include <string.h>

static struct MHD_Response *mock_control_error(unsigned *status, unsigned code, const char *msg)
{
    *status = code;
    return mock_reply_json(mock_openai_error(msg, "invalid_request_error", NULL));
}

static struct MHD_Response *mock_control_ok(unsigned *status)
{
    *status = MHD_HTTP_OK;
    return mock_reply_json(strdup("{\"ok\":true}"));
}

static struct MHD_Response *mock_control_faults(const char *method, const char *body, size_t len,
                                                unsigned *status)
{
    if (strcmp(method, "POST") == 0) {
        cJSON *spec = cJSON_ParseWithLength(body, len);
        const char *err = spec ? mock_faults_set(spec) : "body is not valid JSON";
        cJSON_Delete(spec);
        if (err)
            return mock_control_error(status, MHD_HTTP_BAD_REQUEST, err);
        *status = MHD_HTTP_OK;
        return mock_reply_json(mock_faults_describe());
    }
    if (strcmp(method, "DELETE") == 0) {
        mock_faults_clear();
        return mock_control_ok(status);
    }
    if (strcmp(method, "GET") == 0) {
        *status = MHD_HTTP_OK;
        return mock_reply_json(mock_faults_describe());
    }
    return mock_control_error(status, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET, POST or DELETE");
}

static struct MHD_Response *mock_control_config(const char *method, const char *body, size_t len,
                                                unsigned *status)
{
    if (strcmp(method, "POST") == 0) {
        cJSON *spec = cJSON_ParseWithLength(body, len);
        const char *err = spec ? mock_oauth_config_set(spec) : "body is not valid JSON";
        cJSON_Delete(spec);
        if (err)
            return mock_control_error(status, MHD_HTTP_BAD_REQUEST, err);
    } else if (strcmp(method, "DELETE") == 0) {
        mock_oauth_config_reset();
    } else if (strcmp(method, "GET") != 0) {
        return mock_control_error(status, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET, POST or DELETE");
    }
    *status = MHD_HTTP_OK;
    return mock_reply_json(mock_oauth_config_dump());
}

static struct MHD_Response *mock_control_replies(const char *method, const char *body, size_t len,
                                                 unsigned *status)
{
    if (strcmp(method, "POST") == 0) {
        cJSON *spec = cJSON_ParseWithLength(body, len);
        const char *err = spec ? mock_replies_set(spec) : "body is not valid JSON";
        cJSON_Delete(spec);
        if (err)
            return mock_control_error(status, MHD_HTTP_BAD_REQUEST, err);
    } else if (strcmp(method, "DELETE") == 0) {
        mock_replies_clear();
    } else if (strcmp(method, "GET") != 0) {
        return mock_control_error(status, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET, POST or DELETE");
    }
    *status = MHD_HTTP_OK;
    return mock_reply_json(mock_replies_dump());
}

struct MHD_Response *mock_control_handle(const char *method, const char *url, const char *body,
                                         size_t len, unsigned *status)
{
    bool get = strcmp(method, "GET") == 0, del = strcmp(method, "DELETE") == 0;

    if (strcmp(url, "/_mock/faults") == 0)
        return mock_control_faults(method, body, len, status);
    if (strcmp(url, "/_mock/config") == 0)
        return mock_control_config(method, body, len, status);
    if (strcmp(url, "/_mock/replies") == 0)
        return mock_control_replies(method, body, len, status);
    if (strcmp(url, "/_mock/requests") == 0 && get) {
        *status = MHD_HTTP_OK;
        return mock_reply_json(mock_record_dump());
    }
    if (strcmp(url, "/_mock/requests") == 0 && del) {
        mock_record_clear();
        return mock_control_ok(status);
    }
    if (strcmp(url, "/_mock/stats") == 0 && get) {
        *status = MHD_HTTP_OK;
        return mock_reply_json(mock_stats_dump());
    }
    char msg[160];
    snprintf(msg, sizeof msg, "Unknown control URL: %s %.100s", method, url);
    return mock_control_error(status, MHD_HTTP_NOT_FOUND, msg);
}

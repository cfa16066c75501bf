/* libFuzzer target for the /v1/messages front door: the body parser and
 * translator (the parse_messages stage, gatewayd/stages/parse_messages.c)
 * and, with the same bytes taken as an upstream answer, the response writer
 * (gatewayd/messages.c).
 *
 * Byte 0 picks the endpoint (even, e.g. 'N': /v1/messages; odd, e.g. 'C':
 * count_tokens); the rest is the body of a fresh request made with
 * gw_request_new() under the embedded default config. The stage either accepts (r->json is a
 * chat-completions object: a string model equal to r->model_name, a
 * non-empty messages array whose roles are system/user/assistant/tool, a
 * stream flag only on /v1/messages) or answers 400 with an Anthropic-shaped
 * error body that is valid JSON. When the body is a JSON object it is also
 * fed to the writer as an OpenAI completion (a whole message must come out
 * as a valid JSON message) and twice as a stream chunk (every event written
 * must be "event: NAME\ndata: JSON\n\n" with data.type == NAME). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"
#include "pipeline.h"
#include "fuzz_request.h"
#include "request.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_install_default_config("fuzz_messages_body");
    return 0;
}

static void check_error_body(const struct gw_request *r)
{
    CHECK(r->status == 400);
    CHECK(r->content_type && strcmp(r->content_type, "application/json") == 0);
    CHECK(r->error != NULL);
    cJSON *j = cJSON_ParseWithLength(r->out.data, r->out.len);
    CHECK(j != NULL);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    CHECK(cJSON_IsString(t) && strcmp(t->valuestring, "error") == 0);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    CHECK(cJSON_IsObject(e));
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    CHECK(cJSON_IsString(msg) && *msg->valuestring);
    CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "invalid_request_error") == 0);
    cJSON_Delete(j);
}

static void check_accepted(const struct gw_request *r)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    CHECK(r->status == 0);
    CHECK(cJSON_IsObject(r->json));
    if (cJSON_GetObjectItemCaseSensitive(r->json, "prompt"))
        return; /* model and messages may come from the template (fuzz_template checks it) */
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    CHECK(cJSON_IsString(model) && r->model_name && *r->model_name);
    CHECK(strcmp(model->valuestring, r->model_name) == 0);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    CHECK(cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0);
    for (const cJSON *m = msgs->child; m; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        CHECK(cJSON_IsString(role));
        size_t i = 0;
        while (i < 4 && strcmp(role->valuestring, roles[i]) != 0)
            i++;
        CHECK(i < 4);
        CHECK(cJSON_GetObjectItemCaseSensitive(m, "content") != NULL);
    }
    CHECK(r->stream == 0 || (r->stream == 1 && r->api == GW_API_MESSAGES));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "stream")) == r->stream);
}

/* out holds whole SSE events, each "event: NAME\ndata: JSON\n\n". */
static void check_events(const struct gw_buf *out)
{
    const char *p = out->data ? out->data : "", *end = p + out->len;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        CHECK(stop != NULL);
        CHECK(strncmp(p, "event: ", 7) == 0);
        const char *nl = strchr(p, '\n');
        CHECK(nl < stop && strncmp(nl + 1, "data: ", 6) == 0);
        cJSON *d = cJSON_ParseWithLength(nl + 7, (size_t)(stop - nl - 7));
        CHECK(cJSON_IsObject(d));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "type");
        CHECK(cJSON_IsString(t) && strlen(t->valuestring) == (size_t)(nl - p - 7) &&
              memcmp(t->valuestring, p + 7, (size_t)(nl - p - 7)) == 0);
        cJSON_Delete(d);
        p = stop + 2;
    }
}

static void writer(const cJSON *j, int stream)
{
    struct gw_request *r = gw_request_new();
    CHECK(r != NULL);
    r->api = GW_API_MESSAGES;
    r->model_name = "fuzz-model";
    r->stream = stream;
    r->input_tokens_known = 1;
    struct gw_msg_writer w;
    gw_msg_init(&w, r);
    if (stream) {
        gw_msg_openai_chunk(&w, j, &r->out);
        gw_msg_openai_chunk(&w, j, &r->out);
        gw_msg_close(&w, &r->out);
        check_events(&r->out);
    } else {
        gw_msg_openai_completion(&w, j, &r->out);
        gw_msg_close(&w, &r->out);
        cJSON *m = cJSON_ParseWithLength(r->out.data, r->out.len);
        CHECK(cJSON_IsObject(m));
        CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "content")));
        cJSON_Delete(m);
    }
    gw_msg_free(&w);
    gw_request_release(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int count = data[0] & 1;
    struct gw_request *r =
        fuzz_request(count ? GW_API_COUNT_TOKENS : GW_API_MESSAGES,
                     count ? "/v1/messages/count_tokens" : "/v1/messages", data + 1, size - 1);
    enum gw_stage_rc rc = gw_stage_parse_messages.run(r);
    if (rc == GW_STAGE_RESPOND)
        check_error_body(r);
    else if (rc == GW_STAGE_CONTINUE)
        check_accepted(r);
    else
        abort();
    gw_request_release(r);

    cJSON *j = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (cJSON_IsObject(j)) {
        writer(j, 0);
        writer(j, 1);
    }
    cJSON_Delete(j);
    return 0;
}

/* libFuzzer target for the chat-completions body validator (the parse stage,
 * gatewayd/stages/parse.c): each input is the body of a fresh request made
 * with gw_request_new() under the embedded default config. The stage either
 * accepts (a JSON object with a model and a non-empty messages array) or
 * answers 400 with an OpenAI-shaped error body that is itself valid JSON. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "fuzz_request.h"
#include "request.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_install_default_config("fuzz_chat_body");
    return 0;
}

static void check_accepted(const struct gw_request *r)
{
    CHECK(r->status == 0);
    CHECK(cJSON_IsObject(r->json));
    if (cJSON_GetObjectItemCaseSensitive(r->json, "prompt"))
        return; /* model and messages may come from the template (fuzz_template checks it) */
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    CHECK(cJSON_IsString(model) && r->model_name && *r->model_name);
    CHECK(strcmp(model->valuestring, r->model_name) == 0);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    CHECK(cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0);
    CHECK(r->stream == 0 || r->stream == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_request *r = fuzz_request(GW_API_CHAT, "/v1/chat/completions", data, size);
    enum gw_stage_rc rc = gw_stage_parse.run(r);
    if (rc == GW_STAGE_RESPOND)
        fuzz_check_openai_error(r, 400);
    else if (rc == GW_STAGE_CONTINUE)
        check_accepted(r);
    else
        abort();
    gw_request_release(r);
    return 0;
}

/* Vertex AI's model endpoints as the mock plays them:
 *   POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict
 *        and :streamRawPredict  - an Anthropic Messages body without "model"
 *        and with "anthropic_version": "vertex-2023-10-16", answered as
 *        anthropic.c answers (the model named from the URL);
 *   POST .../publishers/google/models/{m}:generateContent and
 *        :streamGenerateContent?alt=sse - answered as gemini.c answers.
 * Every call needs "Authorization: Bearer <live token from oauth.c>", else
 * 401 in Google's shape. Faults answer in Google's shape; the Anthropic
 * models' validation errors in Anthropic's. */
#include "mock.h"

#include <string.h>

static void mock_vertex_anthropic(struct mock_call *call)
{
    struct mock_verdict v;
    struct mock_chat c;
    bool stream_url = strcmp(call->action, "streamRawPredict") == 0;
    if (!mock_anthropic_parse(call->body, call->len, call->model, &c, &v)) {
        mock_call_refuse(call, MOCK_FMT_ANTHROPIC, &v);
    } else if (stream_url && !c.stream) {
        mock_chat_free(&c);
        mock_fail(&v, 400, "invalid_request_error",
                  "stream: streamRawPredict needs \"stream\": true in the body");
        mock_call_refuse(call, MOCK_FMT_ANTHROPIC, &v);
    } else {
        mock_anthropic_answer(call, &c);
    }
}

void mock_vertex_route(struct mock_call *call)
{
    if (!mock_oauth_bearer_ok(call->conn))
        mock_call_error(call, 401, NULL,
                        "Request had invalid authentication credentials. Expected OAuth 2 access "
                        "token, login cookie or other valid authentication credential (a bearer "
                        "token issued by this mock's /token and not expired).");
    else if (strcmp(call->action, "rawPredict") == 0 ||
             strcmp(call->action, "streamRawPredict") == 0)
        mock_vertex_anthropic(call);
    else
        mock_gemini_generate(call, true);
}

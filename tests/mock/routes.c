/* The mock's URL table: which paths are API paths (recorded, subject to
 * faults), which handler answers a method and URL, the model and action the
 * URL carries, and the error shape an unknown URL under each prefix gets.
 *
 *   POST /v1/chat/completions, /v1/embeddings; GET /v1/models     OpenAI
 *   POST /v1/messages                                             Anthropic
 *   POST /v1beta/models/{model}:{action}                          Gemini
 *   POST /model/{modelId}/converse, /converse-stream              Bedrock
 *   POST /token                                                   Google OAuth
 *   POST /v1/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:{action}
 *                                                                 Vertex AI */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mock_route_is_api(const char *path)
{
    return strncmp(path, "/v1/", 4) == 0 || strncmp(path, "/v1beta/", 8) == 0 ||
           strncmp(path, "/model/", 7) == 0 || strcmp(path, "/token") == 0;
}

static bool mock_route_one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* "{model}:{action}" with a known action (no further '/'). */
static bool mock_route_model_action(struct mock_call *call, const char *s,
                                    const char *const *actions)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strchr(s, '/') || (size_t)(colon - s) >= sizeof call->model ||
        strlen(colon + 1) >= sizeof call->action)
        return false;
    snprintf(call->model, sizeof call->model, "%.*s", (int)(colon - s), s);
    snprintf(call->action, sizeof call->action, "%s", colon + 1);
    return mock_route_one_of(call->action, actions);
}

/* /v1/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:{action} */
static bool mock_route_vertex(struct mock_call *call)
{
    static const char *const anthropic[] = {"rawPredict", "streamRawPredict", NULL};
    static const char *const google[] = {"generateContent", "streamGenerateContent", NULL};
    static const char *const fixed[] = {"v1", "projects", NULL, "locations", NULL, "publishers"};
    const char *p = call->path + 1;
    for (int i = 0; i < 6; i++) {
        const char *slash = strchr(p, '/');
        if (!slash || slash == p ||
            (fixed[i] && (strncmp(p, fixed[i], (size_t)(slash - p)) ||
                          strlen(fixed[i]) != (size_t)(slash - p))))
            return false;
        p = slash + 1;
    }
    if (strncmp(p, "anthropic/models/", 17) == 0)
        return mock_route_model_action(call, p + 17, anthropic);
    if (strncmp(p, "google/models/", 14) == 0)
        return mock_route_model_action(call, p + 14, google);
    return false;
}

/* /model/{percent-encoded modelId}/converse[-stream], read from the target
 * as received so an encoded '/' in an ARN stays inside the id. */
static bool mock_route_bedrock(struct mock_call *call)
{
    static const char *const actions[] = {"converse", "converse-stream", NULL};
    const char *raw = call->target + 7;
    size_t n = strcspn(raw, "?");
    const char *slash = memrchr(raw, '/', n);
    if (!slash || slash == raw || (size_t)(raw + n - slash) > sizeof call->action)
        return false;
    snprintf(call->action, sizeof call->action, "%.*s", (int)(raw + n - slash - 1), slash + 1);
    char *model = mock_url_decode(raw, (size_t)(slash - raw), false);
    bool ok = model && *model && strlen(model) < sizeof call->model &&
              mock_route_one_of(call->action, actions);
    if (ok)
        snprintf(call->model, sizeof call->model, "%s", model);
    free(model);
    return ok;
}

mock_handler_fn mock_route_find(struct mock_call *call)
{
    static const char *const gemini[] = {"generateContent", "streamGenerateContent", "embedContent",
                                         "batchEmbedContents", NULL};
    const char *p = call->path;
    bool post = strcmp(call->method, "POST") == 0;

    if (strncmp(p, "/v1/projects/", 13) == 0) {
        call->fmt = MOCK_FMT_GOOGLE;
        return post && mock_route_vertex(call) ? mock_vertex_route : NULL;
    }
    if (strncmp(p, "/v1beta/", 8) == 0) {
        call->fmt = MOCK_FMT_GOOGLE;
        return post && strncmp(p, "/v1beta/models/", 15) == 0 &&
                       mock_route_model_action(call, p + 15, gemini)
                   ? mock_gemini_route
                   : NULL;
    }
    if (strncmp(p, "/model/", 7) == 0 && strncmp(call->target, "/model/", 7) == 0) {
        call->fmt = MOCK_FMT_BEDROCK;
        return post && mock_route_bedrock(call) ? mock_bedrock_route : NULL;
    }
    if (strcmp(p, "/token") == 0) {
        call->fmt = MOCK_FMT_OAUTH;
        return post ? mock_oauth_token : NULL;
    }
    if (strncmp(p, "/v1/messages", 12) == 0 && (!p[12] || p[12] == '/')) {
        call->fmt = MOCK_FMT_ANTHROPIC;
        return post && !p[12] ? mock_anthropic_messages : NULL;
    }
    call->fmt = MOCK_FMT_OPENAI;
    if (post && strcmp(p, "/v1/chat/completions") == 0)
        return mock_openai_chat;
    if (post && strcmp(p, "/v1/embeddings") == 0)
        return mock_openai_embeddings;
    if (strcmp(call->method, "GET") == 0 && strcmp(p, "/v1/models") == 0)
        return mock_openai_models;
    return NULL;
}

/* The Gemini API (Google AI Studio) as the mock speaks it:
 * POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse,
 * :embedContent and :batchEmbedContents, authenticated by x-goog-api-key or
 * ?key=; the GenerateContentResponse (whole, or one SSE chunk per word with
 * the function call whole in one chunk and finishReason + usageMetadata in
 * the last), embeddings, and Google's error object. The generateContent body
 * is validated by gemini_parse.c; Vertex AI's Gemini models answer through
 * mock_gemini_generate too. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GM_MAX_DIMS 3072

/* Google's canonical status name of an HTTP status. */
static const char *gm_status(unsigned status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 413:
        return "INVALID_ARGUMENT";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 500:
        return "INTERNAL";
    case 501:
        return "NOT_IMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return status < 500 ? "FAILED_PRECONDITION" : "UNKNOWN";
    }
}

char *mock_google_error(unsigned status, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(err, "code", status);
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "status", gm_status(status));
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static cJSON *gm_function_call(const struct mock_chat *c)
{
    cJSON *part = cJSON_CreateObject();
    cJSON *fc = cJSON_AddObjectToObject(part, "functionCall");
    cJSON_AddStringToObject(fc, "name", c->dir.tool);
    cJSON_AddItemToObject(fc, "args", mock_chat_tool_input(c));
    return part;
}

static cJSON *gm_text_part(const char *s, size_t n)
{
    cJSON *part = cJSON_CreateObject();
    char *t = strndup(s, n);
    cJSON_AddStringToObject(part, "text", t ? t : "");
    free(t);
    return part;
}

/* A GenerateContentResponse with parts (taken); finish: the last one, with
 * finishReason and (unless no_usage) usageMetadata. */
static char *gm_response(const struct mock_chat *c, cJSON *parts, bool finish)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *cand = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "candidates"), cand);
    cJSON *content = cJSON_AddObjectToObject(cand, "content");
    cJSON_AddItemToObject(content, "parts", parts);
    cJSON_AddStringToObject(content, "role", "model");
    if (finish)
        cJSON_AddStringToObject(cand, "finishReason",
                                mock_chat_stop(c) == MOCK_STOP_MAX ? "MAX_TOKENS" : "STOP");
    cJSON_AddNumberToObject(cand, "index", 0);
    if (finish && !c->dir.no_usage) {
        cJSON *u = cJSON_AddObjectToObject(root, "usageMetadata");
        cJSON_AddNumberToObject(u, "promptTokenCount", (double)c->prompt_tokens);
        cJSON_AddNumberToObject(u, "candidatesTokenCount", (double)c->completion_tokens);
        cJSON_AddNumberToObject(u, "totalTokenCount",
                                (double)(c->prompt_tokens + c->completion_tokens));
        if (c->cache_read)
            cJSON_AddNumberToObject(u, "cachedContentTokenCount", (double)c->cache_read);
    }
    cJSON_AddStringToObject(root, "modelVersion", c->model);
    cJSON_AddStringToObject(root, "responseId", c->id);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static char *gm_complete(const struct mock_chat *c)
{
    cJSON *parts = cJSON_CreateArray();
    cJSON_AddItemToArray(parts, gm_text_part(c->reply, strlen(c->reply)));
    if (c->tool_args)
        cJSON_AddItemToArray(parts, gm_function_call(c));
    return gm_response(c, parts, true);
}

static bool gm_render(const struct mock_chat *c, enum mock_ev ev, const char *arg, size_t alen,
                      char **out, size_t *len)
{
    static const char garbage[] = "data: {not json\r\n\r\n";
    cJSON *parts;
    *out = NULL;
    switch (ev) {
    case MOCK_EV_GARBAGE:
        *out = strdup(garbage);
        *len = sizeof garbage - 1;
        return *out != NULL;
    case MOCK_EV_WORD:
    case MOCK_EV_FINISH:
        parts = cJSON_CreateArray();
        cJSON_AddItemToArray(parts, gm_text_part(ev == MOCK_EV_WORD ? arg : "", alen));
        break;
    case MOCK_EV_TOOL_START:
        parts = cJSON_CreateArray();
        cJSON_AddItemToArray(parts, gm_function_call(c));
        break;
    default:
        return true;
    }
    *out = mock_sse_event(NULL, gm_response(c, parts, ev == MOCK_EV_FINISH), "\r\n\r\n", len);
    return *out != NULL;
}

static const struct mock_chat_ops gm_ops = {
    .complete = gm_complete,
    .stream = {.content_type = "text/event-stream", .render = gm_render},
};

void mock_gemini_generate(struct mock_call *call, bool vertex)
{
    struct mock_verdict v;
    struct mock_chat c;
    bool stream = strcmp(call->action, "streamGenerateContent") == 0;
    const char *alt = MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "alt");

    if (stream && !(alt && strcmp(alt, "sse") == 0)) {
        mock_call_error(call, 400, NULL,
                        "the mock streams streamGenerateContent only as server-sent events: add "
                        "?alt=sse");
    } else if (!mock_gemini_parse(call->body, call->len, call->model, vertex, &c, &v)) {
        mock_call_refuse(call, MOCK_FMT_GOOGLE, &v);
    } else {
        c.stream = stream;
        mock_call_answer(call, &c, &gm_ops);
    }
}

/* One EmbedContentRequest: its {"values":[...]} (raw text, directives
 * included) or false with v filled. need_model: batch items name theirs. */
static bool gm_embed_one(const struct mock_call *call, const cJSON *req, const char *where,
                         bool need_model, cJSON **values, struct mock_directives *d,
                         struct mock_verdict *v)
{
    static const char *const keys[] = {
        "model", "content", "taskType", "title", "outputDimensionality", NULL};
    static const char *const tasks[] = {"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY",
                                        "RETRIEVAL_DOCUMENT",    "SEMANTIC_SIMILARITY",
                                        "CLASSIFICATION",        "CLUSTERING",
                                        "QUESTION_ANSWERING",    "FACT_VERIFICATION",
                                        "CODE_RETRIEVAL_QUERY",  NULL};
    char at[96], want[1100];
    const char *bad;

    if (!cJSON_IsObject(req))
        return mock_fail(v, 400, NULL, "Invalid JSON payload received at '%s'.", where);
    if ((bad = mock_json_unknown(req, keys, true)) != NULL)
        return mock_fail(v, 400, NULL,
                         "Invalid JSON payload received. Unknown name \"%s\" at '%s': Cannot find "
                         "field.",
                         bad, *where ? where : "EmbedContentRequest");
    const cJSON *model = mock_json_get(req, "model", true);
    const cJSON *content = mock_json_get(req, "content", true);
    const cJSON *task = mock_json_get(req, "taskType", true);
    const cJSON *title = mock_json_get(req, "title", true);
    const cJSON *dims = mock_json_get(req, "outputDimensionality", true);
    snprintf(want, sizeof want, "models/%s", call->model);
    if ((need_model || model) && !(cJSON_IsString(model) && strcmp(model->valuestring, want) == 0))
        return mock_fail(v, 400, NULL, "%s.model must be \"%s\", the model of the URL", where,
                         want);
    const cJSON *parts = mock_json_get(content, "parts", true);
    if (!cJSON_IsObject(content) || !cJSON_IsArray(parts) || !parts->child)
        return mock_fail(v, 400, NULL, "* %s.content: content must have non-empty parts", where);
    bool known = !task;
    for (int i = 0; cJSON_IsString(task) && tasks[i]; i++)
        known |= strcmp(task->valuestring, tasks[i]) == 0;
    if (!known)
        return mock_fail(v, 400, NULL, "Invalid value at '%s.task_type'", where);
    if (title && !(cJSON_IsString(title) && cJSON_IsString(task) &&
                   strcmp(task->valuestring, "RETRIEVAL_DOCUMENT") == 0))
        return mock_fail(v, 400, NULL,
                         "%s.title: a title is only allowed with task type RETRIEVAL_DOCUMENT",
                         where);
    if (dims && !mock_json_int(dims, 1, GM_MAX_DIMS))
        return mock_fail(v, 400, NULL, "%s.output_dimensionality must be in 1..%d", where,
                         GM_MAX_DIMS);
    struct mock_buf text = {0};
    mock_buf_add(&text, "", 0);
    int j = 0;
    for (const cJSON *p = parts->child; p; p = p->next, j++) {
        const cJSON *t = mock_json_get(p, "text", true);
        snprintf(at, sizeof at, "%s.content.parts[%d]", where, j);
        if (!cJSON_IsString(t) || cJSON_GetArraySize(p) != 1) {
            mock_buf_free(&text);
            return mock_fail(v, 400, NULL, "%s: embeddings take text parts only", at);
        }
        mock_buf_join(&text, t->valuestring);
    }
    int n = dims ? (int)dims->valuedouble : 8;
    double *vec = malloc((size_t)n * sizeof *vec);
    char *scratch = text.oom ? NULL : strdup(text.p);
    if (!vec || !scratch) {
        free(vec);
        free(scratch);
        mock_buf_free(&text);
        return mock_fail(v, 500, NULL, "out of memory");
    }
    mock_directives_extract(scratch, d);
    mock_vector(text.p, vec, n);
    *values = cJSON_CreateObject();
    cJSON_AddItemToObject(*values, "values", cJSON_CreateDoubleArray(vec, n));
    free(vec);
    free(scratch);
    mock_buf_free(&text);
    return true;
}

static void gm_embed(struct mock_call *call, bool batch)
{
    struct mock_directives d;
    struct mock_verdict v = {0};
    cJSON *root = cJSON_ParseWithLength(call->body, call->len);
    cJSON *out = cJSON_CreateObject(), *values = NULL;
    bool ok;

    mock_directives_init(&d);
    if (!batch) {
        ok = gm_embed_one(call, root, "", false, &values, &d, &v);
        if (ok)
            cJSON_AddItemToObject(out, "embedding", values);
    } else {
        const cJSON *reqs = mock_json_get(root, "requests", true);
        ok = cJSON_IsObject(root) && cJSON_GetArraySize(root) == 1 && cJSON_IsArray(reqs) &&
             reqs->child;
        if (!ok)
            mock_fail(&v, 400, NULL,
                      "BatchEmbedContentsRequest takes exactly one field, a non-empty "
                      "\"requests\" list");
        cJSON *list = cJSON_AddArrayToObject(out, "embeddings");
        int i = 0;
        for (const cJSON *r = ok ? reqs->child : NULL; r && ok; r = r->next, i++) {
            char at[48];
            snprintf(at, sizeof at, "requests[%d]", i);
            ok = gm_embed_one(call, r, at, true, &values, &d, &v);
            if (ok)
                cJSON_AddItemToArray(list, values);
        }
    }
    if (!ok)
        mock_call_refuse(call, MOCK_FMT_GOOGLE, &v);
    else if (!mock_call_fault(call, &d))
        mock_call_reply(call, MHD_HTTP_OK, mock_reply_json(cJSON_PrintUnformatted(out)));
    cJSON_Delete(out);
    cJSON_Delete(root);
}

void mock_gemini_route(struct mock_call *call)
{
    const char *key = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "x-goog-api-key");
    if (!key || !*key)
        key = MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "key");
    if (!key || !*key)
        mock_call_error(call, 403, NULL,
                        "Method doesn't allow unregistered callers (callers without established "
                        "identity). Please use API Key or other form of API consumer identity "
                        "to call this API.");
    else if (strcmp(call->action, "embedContent") == 0)
        gm_embed(call, false);
    else if (strcmp(call->action, "batchEmbedContents") == 0)
        gm_embed(call, true);
    else
        mock_gemini_generate(call, false);
}
